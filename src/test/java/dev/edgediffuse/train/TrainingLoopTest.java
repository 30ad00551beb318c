package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.tensor.FeatureMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainingLoopTest {
    private static final ModelConfigs TINY = ModelConfigs.builtIn("tiny");

    static FashionMnist syntheticImages(int n) {
        Rng r = new Rng(9);
        byte[] px = new byte[n * 32 * 32];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 10;
            // a bright rectangle whose size depends on the class, on a dark background, plus noise
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    boolean inside = Math.abs(y - 16) < 4 + labels[i] && Math.abs(x - 16) < 12 - labels[i];
                    px[(i * 32 + y) * 32 + x] = (byte) ((inside ? 200 : 20) + r.nextInt(30));
                }
        }
        return new FashionMnist(px, labels, n);
    }

    private static TrainingLoop.Settings settings(long steps) {
        return new TrainingLoop.Settings(steps, 4, 2e-3, 2, 0.1, 0.01, 1.0, 0.9, List.of(0.3), true, 0, 1);
    }

    /** Trains the tiny VAE for {@code steps} in {@code dir}; stops (as if killed) after {@code stopAfter}. */
    private static Parameters trainVae(Path dir, long steps, long stopAfter) throws Exception {
        Parameters p = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
        AutoencoderKL vae = new AutoencoderKL(TINY.vae(), p.weights("vae"));
        TrainingLoop loop = new TrainingLoop("vae", p, settings(steps), dir, null);
        loop.stopAfter(stopAfter);
        boolean finished = loop.run(new VaeObjective(vae, syntheticImages(12), 4, 1e-3, 5));
        assertTrue(finished == (stopAfter >= steps));
        Parameters both = Parameters.union(Map.of("p.", p, "ema.", loop.emaWeights(), "ema0.3.", loop.emaWeights(0.3)));
        return both;
    }

    @Test
    void aResumedRunEqualsAnUninterruptedOneBitForBit(@TempDir Path tmp) throws Exception {
        Parameters straight = trainVae(tmp.resolve("a"), 6, Long.MAX_VALUE);
        trainVae(tmp.resolve("b"), 6, 3);
        assertTrue(Files.exists(tmp.resolve("b/vae.checkpoint.safetensors")));
        Parameters resumed = trainVae(tmp.resolve("b"), 6, Long.MAX_VALUE);
        Parameters fresh = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
        boolean changed = false;
        for (String n : straight.names()) {
            assertArrayEquals(straight.get(n), resumed.get(n), 0f, n);
            if (n.startsWith("p.") && !java.util.Arrays.equals(fresh.get(n.substring(2)), straight.get(n))) changed = true;
        }
        assertTrue(changed, "training changed no parameter");
        assertTrue(Files.readAllLines(tmp.resolve("b/vae.log.jsonl")).size() >= 6);
    }

    @Test
    void resumingWithEmaAlternativesTheCheckpointLacksIsAOneLineError(@TempDir Path tmp) throws Exception {
        Parameters p = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
        AutoencoderKL vae = new AutoencoderKL(TINY.vae(), p.weights("vae"));
        TrainingLoop plain = new TrainingLoop("vae", p, new TrainingLoop.Settings(4, 4, 2e-3, 2, 0.1, 0.01, 1.0, 0.9, 0, 1), tmp, null);
        plain.stopAfter(2);
        plain.run(new VaeObjective(vae, syntheticImages(12), 4, 1e-3, 5));
        TrainingLoop withAlternative = new TrainingLoop("vae", p, settings(4), tmp, null);
        var e = assertThrows(dev.edgediffuse.format.ModelFormatException.class,
                () -> withAlternative.run(new VaeObjective(vae, syntheticImages(12), 4, 1e-3, 5)));
        assertTrue(e.getMessage().contains("holds no EMA of decay 0.3") && e.getMessage().contains("ema_alternatives")
                && e.getMessage().lines().count() == 1, e.getMessage());
    }

    @Test
    void theEmaWarmsUpUnlessTheStageContinuesTrainedWeights(@TempDir Path tmp) throws Exception {
        Recipe r = Recipe.read(Path.of("recipes/mini.json"));
        for (Recipe.Stage s : List.of(r.vae(), r.decoder(), r.decoderAdversarial(), r.diffusion())) {
            assertTrue(s.settings(0).emaWarmUp(), "a stage from scratch warms its EMA up");
        }
        assertFalse(r.diffusion().settings(0, true).emaWarmUp());
        // one step at decay 0.9: with the warm-up the decay is capped at (1+1)/(10+1), without it stays 0.9
        for (boolean warmUp : new boolean[]{true, false}) {
            Parameters p = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
            Parameters initial = p.copy();
            AutoencoderKL vae = new AutoencoderKL(TINY.vae(), p.weights("vae"));
            var settings = new TrainingLoop.Settings(1, 4, 2e-3, 1, 0.1, 0.0, 1.0, 0.9, List.of(), warmUp, 0, 1);
            TrainingLoop loop = new TrainingLoop("vae", p, settings, tmp.resolve("w" + warmUp), null);
            loop.run(new VaeObjective(vae, syntheticImages(12), 4, 1e-3, 5));
            float d = warmUp ? 2f / 11f : 0.9f;
            for (String n : p.names()) {
                float[] a = initial.get(n), b = p.get(n), e = loop.emaWeights().get(n);
                for (int i = 0; i < a.length; i++) assertEquals(d * a[i] + (1 - d) * b[i], e[i], 1e-6, n);
            }
        }
    }

    @Test
    void adamWFitsALinearMap(@TempDir Path tmp) throws Exception {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapes.put("l.weight", new int[]{3, 5});
        shapes.put("l.bias", new int[]{3});
        Parameters p = Parameters.initialize(shapes, new Rng(1));
        Linear layer = Linear.of(p.weights("t"), "l", 5, 3, true);
        float[] target = {0.5f, -1f, 2f, 0f, 1f, -0.5f, 1.5f, 0.25f, -2f, 1f, 0f, 0.75f, -1.25f, 0.5f, 2f};
        double[] losses = new double[2];
        TrainingLoop loop = new TrainingLoop("linear", p, new TrainingLoop.Settings(300, 16, 0.05, 10, 0.01, 0.0, 10, 0.9, 3600, 300),
                tmp, null);
        loop.run((Tape tape, long step) -> {
            Rng r = TrainingLoop.rngFor(7, step);
            float[] x = new float[16 * 5], want = new float[16 * 3];
            for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian();
            for (int b = 0; b < 16; b++)
                for (int o = 0; o < 3; o++) {
                    float s = 0.3f;
                    for (int i = 0; i < 5; i++) s += target[o * 5 + i] * x[b * 5 + i];
                    want[b * 3 + o] = s;
                }
            float[] y = layer.forward(x, 16), g = new float[y.length];
            double loss = 0;
            for (int i = 0; i < y.length; i++) {
                loss += (y[i] - want[i]) * (y[i] - want[i]) / y.length;
                g[i] = 2 * (y[i] - want[i]) / y.length;
            }
            tape.backward(y, g);
            if (step == 0) losses[0] = loss;
            losses[1] = loss;
            return loss;
        });
        assertTrue(losses[1] < losses[0] / 1000, "loss " + losses[0] + " -> " + losses[1]);
        assertArrayEquals(target, p.get("l.weight"), 0.01f);
        assertFalse(Tape.recording());
    }

    @Test
    void theDecoderStageTrainsTheDecoderAndLeavesTheEncoderBitwiseAlone(@TempDir Path tmp) throws Exception {
        Parameters p = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
        Parameters before = p.copy();
        AutoencoderKL vae = new AutoencoderKL(TINY.vae(), p.weights("vae"));
        FashionMnist data = syntheticImages(12);
        LatentDataset latents = LatentDataset.encode(vae, data, 1f, null);
        Parameters decoder = p.only("decoder.", "post_quant_conv.");
        assertTrue(decoder.count() > 0 && decoder.count() < p.count());
        double[] losses = new double[2];
        TrainingLoop loop = new TrainingLoop("decoder", decoder, settings(40), tmp, null);
        DecoderObjective objective = new DecoderObjective(vae, data, latents, 4, 0.5, 5);
        loop.run((tape, step) -> {
            double loss = objective.step(tape, step);
            if (step < 4) losses[0] += loss / 4;
            if (step >= 36) losses[1] += loss / 4;
            return loss;
        });
        assertTrue(losses[1] < 0.8 * losses[0], "loss " + losses[0] + " -> " + losses[1]);
        for (String n : p.names()) {
            boolean trained = n.startsWith("decoder.") || n.startsWith("post_quant_conv.");
            assertEquals(trained, decoder.names().contains(n), n);
            if (!trained) assertArrayEquals(before.get(n), p.get(n), 0f, n);
        }
        assertFalse(java.util.Arrays.equals(before.get("decoder.conv_out.weight"), p.get("decoder.conv_out.weight")));
        assertThrows(IllegalArgumentException.class, () -> p.only("nothing."));
    }

    @Test
    void theReconstructionLossAddsEdgeTermsWithTheirGradient() {
        // one row of two pixels: the image steps 0 -> 1, the reconstruction is flat
        FeatureMap flat = new FeatureMap(new float[]{0f, 0f}, 1, 1, 2, 1);
        float[] g = new float[2];
        assertEquals(0.5, ReconstructionLoss.l1WithEdges(flat, new float[]{0f, 1f}, 0, g), 1e-9);
        assertEquals(0.5 + 0.3, ReconstructionLoss.l1WithEdges(flat, new float[]{0f, 1f}, 0.3, g), 1e-7);
        assertArrayEquals(new float[]{0.3f, -0.5f - 0.3f}, g, 1e-6f); // pixel 0 is exact: no L1 gradient there

        // the gradient against central differences (the loss is piecewise linear; no kink lies within ±h here)
        Rng r = new Rng(4);
        int n = 2, h = 3, w = 4, c = 2;
        float[] x = new float[n * h * w * c], t = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextGaussian();
            t[i] = r.nextGaussian();
        }
        float[] grad = new float[x.length], scratch = new float[x.length];
        ReconstructionLoss.l1WithEdges(new FeatureMap(x, n, h, w, c), t, 0.7, grad);
        float step = 1e-4f;
        for (int i = 0; i < x.length; i++) {
            float[] up = x.clone(), down = x.clone();
            up[i] += step;
            down[i] -= step;
            double numeric = (ReconstructionLoss.l1WithEdges(new FeatureMap(up, n, h, w, c), t, 0.7, scratch)
                    - ReconstructionLoss.l1WithEdges(new FeatureMap(down, n, h, w, c), t, 0.7, scratch)) / (2 * step);
            assertEquals(numeric, grad[i], 2e-4, "pixel " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> ReconstructionLoss.l1WithEdges(flat, new float[3], 0, new float[2]));
    }
}
