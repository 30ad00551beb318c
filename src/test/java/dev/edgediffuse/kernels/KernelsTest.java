package dev.edgediffuse.kernels;

import dev.edgediffuse.format.Npy;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;

import static dev.edgediffuse.testing.Goldens.assertClose;
import static dev.edgediffuse.testing.Goldens.load;

/** Each kernel against PyTorch (tools/goldens/kernels.py); fp32 tolerances. */
class KernelsTest {
    private static final String C = "kernels";

    private static Weight weight(String name) {
        Npy.Array a = load(C, name);
        return Weight.ofFloats(name, a.data(), a.shape());
    }

    @Test
    void gemmMatchesTorchLinear() {
        float[] a = load(C, "gemm_a").data();
        float[] out = new float[37 * 29];
        Gemm.multiply(a, 0, 53, 37, new WeightPanels(weight("gemm_w")), load(C, "gemm_b").data(), out, 0, 29);
        assertClose("gemm", load(C, "gemm_out").data(), out, 2e-5);
    }

    private float[] conv(String w, int k, int stride, int[] pads, boolean bias) {
        FeatureMap x = FeatureMap.fromNchw(load(C, "conv_x").data(), 2, 5, 9, 11);
        WeightPanels wp = new WeightPanels(weight(w));
        float[] y = Conv2d.conv(x.data(), 2, 9, 11, 5, wp, k, k, stride, pads, bias ? load(C, "conv_b").data() : null);
        int oh = (9 + pads[0] + pads[1] - k) / stride + 1, ow = (11 + pads[2] + pads[3] - k) / stride + 1;
        return new FeatureMap(y, 2, oh, ow, wp.cols()).toNchw();
    }

    @Test
    void convolutionsMatchTorch() {
        assertClose("conv 3x3 pad 1", load(C, "conv_p1").data(), conv("conv_w", 3, 1, new int[]{1, 1, 1, 1}, true), 2e-5);
        assertClose("conv stride 2", load(C, "conv_s2p1").data(), conv("conv_w", 3, 2, new int[]{1, 1, 1, 1}, true), 2e-5);
        assertClose("conv asymmetric pad", load(C, "conv_asym").data(), conv("conv_w", 3, 2, new int[]{0, 1, 0, 1}, true), 2e-5);
        assertClose("conv 1x1", load(C, "conv1_out").data(), conv("conv1_w", 1, 1, new int[4], false), 2e-5);
    }

    @Test
    void normsMatchTorch() {
        FeatureMap g = FeatureMap.fromNchw(load(C, "gn_x").data(), 2, 8, 6, 5);
        float[] gamma = load(C, "gn_gamma").data(), beta = load(C, "gn_beta").data();
        float[] gn = Norms.groupNorm(g.data(), 2, 30, 8, 4, 1e-6f, gamma, beta, false);
        assertClose("group norm", load(C, "gn_out").data(), g.with(gn).toNchw(), 1e-5);
        float[] gns = Norms.groupNorm(g.data(), 2, 30, 8, 4, 1e-6f, gamma, beta, true);
        assertClose("group norm + silu", load(C, "gn_silu_out").data(), g.with(gns).toNchw(), 1e-5);
        float[] ln = Norms.layerNorm(load(C, "ln_x").data(), 13, 24, 1e-5f, load(C, "ln_gamma").data(), load(C, "ln_beta").data());
        assertClose("layer norm", load(C, "ln_out").data(), ln, 1e-5);
    }

    @Test
    void attentionMatchesTorch() {
        float[] q = load(C, "attn_q").data(), k = load(C, "attn_k").data(), v = load(C, "attn_v").data();
        assertClose("self attention", load(C, "attn_self").data(), Attention.attend(q, k, v, 2, 70, 70, 3, 20, false), 1e-5);
        assertClose("causal attention", load(C, "attn_causal").data(), Attention.attend(q, k, v, 2, 70, 70, 3, 20, true), 1e-5);
        float[] kc = load(C, "attn_kc").data(), vc = load(C, "attn_vc").data();
        assertClose("cross attention", load(C, "attn_cross").data(), Attention.attend(q, kc, vc, 2, 70, 9, 3, 20, false), 1e-5);
    }

    @Test
    void activationsMatchTorch() {
        float[] x = load(C, "act_x").data();
        float[] g = x.clone(), s = x.clone(), qg = x.clone();
        Activations.gelu(g);
        Activations.silu(s);
        Activations.quickGelu(qg);
        assertClose("gelu", load(C, "act_gelu").data(), g, 1e-6);
        assertClose("silu", load(C, "act_silu").data(), s, 1e-6);
        assertClose("quick gelu", load(C, "act_quick_gelu").data(), qg, 1e-6);
        assertClose("geglu", load(C, "geglu_out").data(), Activations.geglu(load(C, "geglu_x").data(), 5, 12), 1e-6);
    }

    @Test
    void vectorExpIsAccurateAndFinite() {
        float[] x = new float[8];
        double worst = 0;
        for (float v = -87f; v < 88f; v += 0.0137f) {
            for (int i = 0; i < 8; i++) x[i] = v + i * 1e-3f;
            jdk.incubator.vector.FloatVector e = VectorMath.exp(jdk.incubator.vector.FloatVector.fromArray(VectorWidth.BLOCK_FLOAT, x, 0));
            for (int i = 0; i < e.length(); i++) worst = Math.max(worst, Math.abs(e.lane(i) / Math.exp(x[i]) - 1));
        }
        org.junit.jupiter.api.Assertions.assertTrue(worst < 5e-7, "max relative error " + worst);
        java.util.Arrays.fill(x, -1000f);
        org.junit.jupiter.api.Assertions.assertEquals(0f, VectorMath.exp(jdk.incubator.vector.FloatVector.fromArray(VectorWidth.BLOCK_FLOAT, x, 0)).lane(0), 1e-37f);
    }

    /** Long K (several thousand, as in SD1.5 convs) against a naive double-precision loop. */
    @Test
    void longKMatchesNaiveReference() {
        java.util.Random r = new java.util.Random(5);
        int m = 9, k = 2125, n = 20;
        float[] a = new float[m * k], w = new float[n * k], bias = new float[n];
        for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < w.length; i++) w[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < n; i++) bias[i] = r.nextFloat();
        float[] expected = new float[m * n], got = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double acc = bias[j];
                for (int p = 0; p < k; p++) acc += (double) a[i * k + p] * w[j * k + p];
                expected[i * n + j] = (float) acc;
            }
        Gemm.multiply(a, 0, k, m, new WeightPanels(Weight.ofFloats("w", w, n, k)), bias, got, 0, n);
        assertClose("gemm K=" + k, expected, got, 1e-4);

        // conv with 9 taps of 150 channels
        int h = 6, wd = 5, cin = 150, cout = 18;
        float[] x = new float[h * wd * cin], cw = new float[cout * cin * 9];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < cw.length; i++) cw[i] = r.nextFloat() - 0.5f;
        float[] ref = new float[h * wd * cout];
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < wd; xx++)
                for (int o = 0; o < cout; o++) {
                    double acc = bias[o];
                    for (int c = 0; c < cin; c++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = y + ky - 1, ix = xx + kx - 1;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                acc += (double) x[(iy * wd + ix) * cin + c] * cw[((o * cin + c) * 3 + ky) * 3 + kx];
                            }
                    ref[(y * wd + xx) * cout + o] = (float) acc;
                }
        float[] conv = Conv2d.conv(x, 1, h, wd, cin, new WeightPanels(Weight.ofFloats("cw", cw, cout, cin, 3, 3)), 3, 3, 1,
                new int[]{1, 1, 1, 1}, java.util.Arrays.copyOf(bias, cout));
        assertClose("conv K=" + 9 * cin, ref, conv, 1e-4);
    }
}
