package dev.edgediffuse.nn;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layer seam: a policy sees every linear and convolution layer of a real model under its tensor name and may
 * replace it; a low-rank branch applied at run time gives what merging W + scale·up·down into the weight gives.
 */
class LayerPolicyTest {
    static final int RANK = 3;
    static final float SCALE = 0.75f;

    static Map<String, Weight> randomUnet(Config config, long seed) {
        Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(config), new Rng(seed));
        Map<String, Weight> all = new HashMap<>();
        for (String name : p.names()) all.put(name, Weight.ofFloats(name, p.get(name), p.shapes().get(name)));
        return all;
    }

    static float[] random(int n, long seed, float scale) {
        Rng r = new Rng(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    @Test
    void everyLayerPassesThroughThePolicyUnderItsTensorName() {
        Config config = ModelConfigs.builtIn("tiny").unet();
        Map<String, Weight> tensors = randomUnet(config, 1);
        List<String> seen = new ArrayList<>();
        LayerPolicy recording = new LayerPolicy() {
            @Override
            public Linear linear(Weights w, LinearSpec spec) {
                seen.add(spec.path());
                return LayerPolicy.super.linear(w, spec);
            }

            @Override
            public Conv conv(Weights w, ConvSpec spec) {
                seen.add(spec.path());
                return LayerPolicy.super.conv(w, spec);
            }
        };
        new UNet2DConditionModel(config, new Weights("tiny", tensors).withPolicy(recording));
        long matrices = tensors.keySet().stream().filter(n -> n.endsWith(".weight") && tensors.get(n).shape().length >= 2).count();
        assertEquals(matrices, seen.size());
        for (String path : seen) assertTrue(tensors.containsKey(path + ".weight"), path);
        assertTrue(seen.contains("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"));
        assertTrue(seen.contains("up_blocks.1.resnets.0.conv1"));
    }

    /** Adds a low-rank branch (A, B random) to every matching layer, at run time, and also merged into W. */
    static final class Branches {
        final Map<String, float[]> down = new HashMap<>(), up = new HashMap<>();

        float[] down(String path, int rows, int cols) {
            return down.computeIfAbsent(path, p -> random(rows * cols, p.hashCode(), 0.3f));
        }

        float[] up(String path, int rows, int cols) {
            return up.computeIfAbsent(path, p -> random(rows * cols, p.hashCode() + 1, 0.3f));
        }
    }

    @Test
    void lowRankBranchesAtRunTimeEqualMergedWeights() {
        Config config = ModelConfigs.builtIn("tiny").unet();
        Map<String, Weight> tensors = randomUnet(config, 2);
        Branches b = new Branches();
        LayerPolicy branched = new LayerPolicy() {
            @Override
            public Linear linear(Weights w, LinearSpec spec) {
                Linear base = LayerPolicy.super.linear(w, spec);
                if (!spec.path().contains("attn")) return base;
                Weights branch = new Weights("branch", Map.of(
                        "down.weight", Weight.ofFloats("down.weight", b.down(spec.path(), RANK, spec.in()), RANK, spec.in()),
                        "up.weight", Weight.ofFloats("up.weight", b.up(spec.path(), spec.out(), RANK), spec.out(), RANK)));
                return new LowRankLinear(base, Linear.of(branch, "down", spec.in(), RANK, false),
                        Linear.of(branch, "up", RANK, spec.out(), false), SCALE);
            }

            @Override
            public Conv conv(Weights w, ConvSpec spec) {
                Conv base = LayerPolicy.super.conv(w, spec);
                if (!spec.path().endsWith("conv1")) return base;
                int k = spec.kernel(), fan = spec.in() * k * k;
                Weights branch = new Weights("branch", Map.of(
                        "down.weight", Weight.ofFloats("down.weight", b.down(spec.path(), RANK, fan), RANK, spec.in(), k, k),
                        "up.weight", Weight.ofFloats("up.weight", b.up(spec.path(), spec.out(), RANK), spec.out(), RANK)));
                return new LowRankConv(base, Conv.of(branch, "down", spec.in(), RANK, k, spec.stride(), spec.pads(), false),
                        Linear.of(branch, "up", RANK, spec.out(), false), SCALE);
            }
        };
        UNet2DConditionModel atRunTime = new UNet2DConditionModel(config, new Weights("tiny", tensors).withPolicy(branched));
        Map<String, Weight> merged = new HashMap<>(tensors);
        b.down.forEach((path, a) -> {
            Weight w = tensors.get(path + ".weight");
            int out = w.shape()[0], fan = (int) (w.size() / out);
            float[] v = w.toFloats(), bu = b.up.get(path);
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < fan; i++) {
                    double d = 0;
                    for (int r = 0; r < RANK; r++) d += (double) bu[o * RANK + r] * a[r * fan + i];
                    v[o * fan + i] += (float) (SCALE * d);
                }
            }
            merged.put(path + ".weight", Weight.ofFloats(path + ".weight", v, w.shape()));
        });
        assertTrue(b.down.size() > 10, "branches on attention linears and conv1s: " + b.down.keySet());
        UNet2DConditionModel plain = new UNet2DConditionModel(config, new Weights("tiny", tensors));
        UNet2DConditionModel mergedModel = new UNet2DConditionModel(config, new Weights("tiny", merged));
        int batch = 2, size = 8, channels = 4, dim = config.getInt("cross_attention_dim"), tokens = 5;
        float[] latents = random(batch * size * size * channels, 3, 1f), context = random(batch * tokens * dim, 4, 1f);
        float[] t = {999, 301};
        float[] expected = mergedModel.predict(new FeatureMap(latents.clone(), batch, size, size, channels), t, context, tokens).data();
        float[] actual = atRunTime.predict(new FeatureMap(latents.clone(), batch, size, size, channels), t, context, tokens).data();
        float[] base = plain.predict(new FeatureMap(latents.clone(), batch, size, size, channels), t, context, tokens).data();
        double err = relativeError(actual, expected), effect = relativeError(base, expected);
        System.out.printf("low-rank branches at run time vs merged: relative error %.2e (the branches move the output by %.2e)%n", err, effect);
        assertTrue(err < 1e-5, "relative error " + err);
        assertTrue(effect > 1e-2, "the branches must change the output");
    }

    static double relativeError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - b[i]) * (a[i] - b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void policiesCompose() {
        Map<String, Weight> t = new LinkedHashMap<>();
        t.put("x.a.weight", Weight.ofFloats("x.a.weight", random(6, 1, 1f), 2, 3));
        List<String> order = new ArrayList<>();
        LayerPolicy inner = new LayerPolicy() {
            @Override
            public Linear linear(Weights w, LinearSpec spec) {
                order.add("inner " + spec.path());
                return LayerPolicy.super.linear(w, spec);
            }
        };
        LayerPolicy outer = new LayerPolicy() {
            @Override
            public Linear linear(Weights w, LinearSpec spec) {
                order.add("outer " + spec.path());
                return inner.linear(w, spec);
            }
        };
        Linear l = Linear.of(new Weights("t", t).withPolicy(outer).scope("x").withPolicy(outer), "a", 3, 2, false);
        assertEquals(List.of("outer x.a", "inner x.a"), order);
        assertEquals(3, l.in());
    }
}
