package dev.edgediffuse.autograd;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.LayerNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.LowRankConv;
import dev.edgediffuse.nn.LowRankLinear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every layer's and op's backward against central finite differences (relative error ≤ 1e-2 per entry). */
class LayerGradientTest {
    private static float[] random(int n, long seed, float scale) {
        return GradientCheck.random(n, seed, scale);
    }

    /** Parameters with random (not init-style) values, so norms' scales and biases are exercised too. */
    private static Parameters params(Map<String, int[]> shapes, long seed) {
        Parameters p = Parameters.initialize(shapes, new Rng(seed));
        Rng r = new Rng(seed + 1);
        for (float[] a : p.arrays()) for (int i = 0; i < a.length; i++) a[i] += 0.3f * r.nextGaussian();
        return p;
    }

    private static void report(String what, double worst) {
        System.out.printf("gradient %-28s max rel error %.2e%n", what, worst);
        assertTrue(worst <= 1e-2);
    }

    @Test
    void linear() {
        Parameters p = params(Map.of("l.weight", new int[]{19, 7}, "l.bias", new int[]{19}), 1);
        Linear l = Linear.of(p.weights("t"), "l", 7, 19, true);
        float[] x = random(5 * 7, 2, 1f);
        report("linear", new GradientCheck(() -> l.forward(x, 5)).with(p).with("x", x).run());
    }

    @Test
    void lowRankBranches() {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapes.put("l.weight", new int[]{9, 7});
        shapes.put("l.bias", new int[]{9});
        shapes.put("down.weight", new int[]{2, 7});
        shapes.put("up.weight", new int[]{9, 2});
        Parameters p = params(shapes, 7);
        Weights w = p.weights("t");
        Linear l = new LowRankLinear(Linear.of(w, "l", 7, 9, true), Linear.of(w, "down", 7, 2, false), Linear.of(w, "up", 2, 9, false), 0.6f);
        float[] x = random(4 * 7, 8, 1f);
        report("low-rank linear", new GradientCheck(() -> l.forward(x, 4)).with(p).with("x", x).run());

        Map<String, int[]> convShapes = new LinkedHashMap<>();
        convShapes.put("c.weight", new int[]{5, 3, 3, 3});
        convShapes.put("c.bias", new int[]{5});
        convShapes.put("down.weight", new int[]{2, 3, 3, 3});
        convShapes.put("up.weight", new int[]{5, 2});
        Parameters q = params(convShapes, 9);
        Weights cw = q.weights("t");
        int[] pads = {1, 1, 1, 1};
        Conv c = new LowRankConv(Conv.of(cw, "c", 3, 5, 3, 1, pads), Conv.of(cw, "down", 3, 2, 3, 1, pads, false),
                Linear.of(cw, "up", 2, 5, false), 1.5f);
        float[] img = random(2 * 4 * 5 * 3, 10, 1f);
        report("low-rank conv", new GradientCheck(() -> c.forward(new FeatureMap(img, 2, 4, 5, 3)).data()).with(q).with("x", img).run());
    }

    private static void conv(String what, int in, int out, int k, int stride, int[] pads, int h, int w) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapes.put("c.weight", new int[]{out, in, k, k});
        shapes.put("c.bias", new int[]{out});
        Parameters p = params(shapes, 3);
        Conv c = Conv.of(p.weights("t"), "c", in, out, k, stride, pads);
        float[] x = random(2 * h * w * in, 4, 1f);
        report(what, new GradientCheck(() -> c.forward(new FeatureMap(x, 2, h, w, in)).data()).with(p).with("x", x).run());
    }

    @Test
    void convolutions() {
        conv("conv 3x3", 3, 5, 3, 1, new int[]{1, 1, 1, 1}, 6, 5);
        conv("conv 3x3 stride 2 (0,1,0,1)", 4, 6, 3, 2, new int[]{0, 1, 0, 1}, 6, 6);
        conv("conv 3x3 stride 2 pad 1", 4, 17, 3, 2, new int[]{1, 1, 1, 1}, 5, 6);
        conv("conv 1x1", 6, 18, 1, 1, new int[]{0, 0, 0, 0}, 3, 4);
    }

    @Test
    void groupNorm() {
        for (boolean silu : new boolean[]{false, true}) {
            Parameters p = params(new LinkedHashMap<>(Map.of("n.weight", new int[]{8}, "n.bias", new int[]{8})), 5);
            GroupNorm n = new GroupNorm(p.weights("t"), "n", 8, 4, 1e-5);
            float[] x = random(2 * 6 * 8, 6, 2f);
            report("group norm" + (silu ? " + silu" : ""),
                    new GradientCheck(() -> n.forward(new FeatureMap(x, 2, 2, 3, 8), silu).data()).with(p).with("x", x).run());
        }
    }

    @Test
    void layerNorm() {
        Parameters p = params(new LinkedHashMap<>(Map.of("n.weight", new int[]{12}, "n.bias", new int[]{12})), 7);
        LayerNorm n = new LayerNorm(p.weights("t"), "n", 12, 1e-5);
        float[] x = random(5 * 12, 8, 2f);
        report("layer norm", new GradientCheck(() -> n.forward(x, 5)).with(p).with("x", x).run());
    }

    @Test
    void activations() {
        float[] x = random(40, 9, 2f);
        report("silu", new GradientCheck(() -> Ops.silu(x)).with("x", x).run());
        report("gelu", new GradientCheck(() -> Ops.gelu(x)).with("x", x).run());
        report("quick gelu", new GradientCheck(() -> Ops.quickGelu(x)).with("x", x).run());
        report("geglu", new GradientCheck(() -> Ops.geglu(x, 4, 5)).with("x", x).run());
        report("x + x", new GradientCheck(() -> Ops.add(x, x)).with("x", x).run());
        // relu away from its kink (finite differences straddle it otherwise)
        float[] apart = x.clone();
        for (int i = 0; i < apart.length; i++) if (Math.abs(apart[i]) < 0.05f) apart[i] += 0.1f;
        report("relu", new GradientCheck(() -> Ops.relu(apart)).with("x", apart).run());
        report("2x - 1", new GradientCheck(() -> Ops.scaleShift(x, 2, -1)).with("x", x).run());
    }

    @Test
    void attention() {
        int batch = 2, tq = 5, tk = 7, heads = 2, d = 3, c = heads * d;
        float[] q = random(batch * tq * c, 10, 1f), k = random(batch * tk * c, 11, 1f), v = random(batch * tk * c, 12, 1f);
        report("cross attention", new GradientCheck(() -> Ops.attend(q, k, v, batch, tq, tk, heads, d, false))
                .with("q", q).with("k", k).with("v", v).run());
        float[] kc = random(batch * tq * c, 13, 1f), vc = random(batch * tq * c, 14, 1f);
        report("causal self attention", new GradientCheck(() -> Ops.attend(q, kc, vc, batch, tq, tq, heads, d, true))
                .with("q", q).with("k", kc).with("v", vc).run());
    }

    @Test
    void reshaping() {
        float[] a = random(2 * 3 * 2 * 4, 15, 1f), b = random(2 * 3 * 2 * 5, 16, 1f), t = random(2 * 4, 17, 1f);
        report("upsample 2x", new GradientCheck(() -> Ops.upsample2x(new FeatureMap(a, 2, 3, 2, 4)).data()).with("a", a).run());
        report("concat", new GradientCheck(() -> Ops.concat(new FeatureMap(a, 2, 3, 2, 4), new FeatureMap(b, 2, 3, 2, 5)).data())
                .with("a", a).with("b", b).run());
        report("add per batch", new GradientCheck(() -> Ops.addPerBatch(new FeatureMap(a, 2, 3, 2, 4), t).data())
                .with("a", a).with("t", t).run());
    }

    @Test
    void tokenPooling() {
        float[] x = random(2 * 5 * 4, 18, 1f), row = random(4, 19, 1f), first = random(2 * 4, 20, 1f);
        report("token mean", new GradientCheck(() -> Ops.tokenMean(x, 2, 5, 4)).with("x", x).run());
        report("add to rows", new GradientCheck(() -> Ops.addToRows(x, row)).with("x", x).with("row", row).run());
        report("prepend token", new GradientCheck(() -> Ops.prependToken(first, x, 2, 5, 4))
                .with("first", first).with("x", x).run());
    }
}
