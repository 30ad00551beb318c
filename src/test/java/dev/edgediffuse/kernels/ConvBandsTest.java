package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The convolution reads its input a band of rows at a time and can normalize or upsample it on the way in; none
 * of that may change a single bit of the output against the plain path (the same products summed in the same order).
 */
class ConvBandsTest {
    private static final Random R = new Random(7);
    private static final int BATCH = 3, H = 9, W = 11, CIN = 24;

    private static float[] random(int n) {
        float[] v = new float[n];
        for (int i = 0; i < v.length; i++) v[i] = R.nextFloat() * 2 - 1;
        return v;
    }

    private static WeightPanels weight(int cout, int cin, int k) {
        return new WeightPanels(Weight.ofFloats("w", random(cout * cin * k * k), cout, cin, k, k));
    }

    @Test
    void bandsOfAnySizeGiveTheWholeMapResult() {
        float[] x = random(BATCH * H * W * CIN), bias = random(20);
        WeightPanels w = weight(20, CIN, 3); // 20 outputs: a full panel and a partial one
        int[][] padsList = {{1, 1, 1, 1}, {0, 1, 0, 1}, {0, 0, 0, 0}};
        for (int stride : new int[]{1, 2}) {
            for (int[] pads : padsList) {
                float[] whole = Conv2d.conv(x, BATCH, H, W, CIN, w, 3, 3, stride, pads, bias, Conv2d.Prologue.NONE, Integer.MAX_VALUE);
                // one input row per band (a single output row), then bands that straddle two images
                for (int band : new int[]{1, 4 * (W + 2) * CIN, 13 * (W + 2) * CIN}) {
                    float[] banded = Conv2d.conv(x, BATCH, H, W, CIN, w, 3, 3, stride, pads, bias, Conv2d.Prologue.NONE, band);
                    assertArrayEquals(whole, banded, "stride " + stride + " pads " + java.util.Arrays.toString(pads) + " band " + band);
                }
            }
        }
    }

    @Test
    void weightsLargerThanOnePackingGroupGiveTheSameResult() {
        // K = 3·3·512 = 4608: 56 panels of 16 outputs fit one packing group, and 912 outputs need 57
        int cin = 512, cout = 912, h = 3, w = 4;
        float[] x = random(h * w * cin), bias = random(cout);
        WeightPanels wp = weight(cout, cin, 3);
        float[] y = Conv2d.conv(x, 1, h, w, cin, wp, 3, 3, 1, new int[]{1, 1, 1, 1}, bias);
        float[] packed = new float[wp.panels() * wp.rows() * Gemm.NR];
        for (int p = 0; p < wp.panels(); p++) wp.pack(p, packed, p * wp.rows() * Gemm.NR);
        // reference: every output against the whole packed weight at once
        float[] ref = new float[h * w * cout];
        float[] xp = new float[(h + 2) * (w + 2) * cin];
        for (int yy = 0; yy < h; yy++) System.arraycopy(x, yy * w * cin, xp, ((yy + 1) * (w + 2) + 1) * cin, w * cin);
        int[] offs = new int[9 * Gemm.MR];
        for (int r = 0; r < h * w; r += Gemm.MR) {
            int rows = Math.min(Gemm.MR, h * w - r);
            for (int i = 0; i < Gemm.MR; i++) {
                int pix = r + Math.min(i, rows - 1), oy = pix / w, ox = pix % w;
                for (int t = 0; t < 9; t++) offs[t * Gemm.MR + i] = ((oy + t / 3) * (w + 2) + ox + t % 3) * cin;
            }
            for (int p = 0; p < wp.panels(); p++) {
                Gemm.kernel(xp, offs, 0, 9, cin, packed, p * wp.rows() * Gemm.NR, bias, ref, r * cout, cout, rows, p * Gemm.NR, cout);
            }
        }
        assertArrayEquals(ref, y);
    }

    @Test
    void normalizingWhileReadingEqualsNormalizingFirst() {
        float[] x = random(BATCH * H * W * CIN), gamma = random(CIN), beta = random(CIN), bias = random(20);
        WeightPanels w = weight(20, CIN, 3);
        int[] pads = {1, 1, 1, 1};
        for (boolean silu : new boolean[]{false, true}) {
            float[] normed = Norms.groupNorm(x, BATCH, H * W, CIN, 4, 1e-6f, gamma, beta, silu);
            float[] unfused = Conv2d.conv(normed, BATCH, H, W, CIN, w, 3, 3, 1, pads, bias);
            float[][] affine = Norms.groupNormAffine(x, BATCH, H * W, CIN, 4, 1e-6f, gamma, beta);
            for (int band : new int[]{Integer.MAX_VALUE, 1}) {
                float[] fused = Conv2d.conv(x, BATCH, H, W, CIN, w, 3, 3, 1, pads, bias, Conv2d.Prologue.normalize(affine, silu), band);
                assertArrayEquals(unfused, fused, "silu " + silu + " band " + band);
            }
        }
    }

    @Test
    void upsamplingWhileReadingEqualsUpsamplingFirst() {
        float[] x = random(BATCH * H * W * CIN), bias = random(20);
        WeightPanels w = weight(20, CIN, 3);
        int[] pads = {1, 1, 1, 1};
        float[] up = Activations.upsample2x(x, BATCH, H, W, CIN);
        float[] unfused = Conv2d.conv(up, BATCH, 2 * H, 2 * W, CIN, w, 3, 3, 1, pads, bias);
        for (int band : new int[]{Integer.MAX_VALUE, 3 * (2 * W + 2) * CIN}) {
            float[] fused = Conv2d.conv(x, BATCH, H, W, CIN, w, 3, 3, 1, pads, bias, Conv2d.Prologue.UPSAMPLE_2X, band);
            assertArrayEquals(unfused, fused, "band " + band);
        }
    }

    @Test
    void inputOfTheWrongSizeIsRejected() {
        WeightPanels w = weight(20, CIN, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv(new float[10], 1, H, W, CIN, w, 3, 3, 1, new int[]{1, 1, 1, 1}, null));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("conv input has 10 values"), e.getMessage());
    }
}
