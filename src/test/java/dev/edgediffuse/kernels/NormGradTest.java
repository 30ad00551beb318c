package dev.edgediffuse.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The vectorized group-norm backward against the textbook formula written out in double precision, per element, for
 * channel counts on and off the 8-lane vector width and maps spanning several pixel chunks. (LayerGradientTest checks
 * both against finite differences through the layer.)
 */
class NormGradTest {
    @Test
    void groupNormBackwardMatchesTheDoublePrecisionFormula() {
        int[][] shapes = {{2, 30, 8, 4}, {3, 600, 16, 8}, {2, 17, 12, 3}, {1, 9, 4, 1}, {2, 520, 64, 8}};
        for (int[] s : shapes) {
            int batch = s[0], hw = s[1], c = s[2], groups = s[3];
            Random r = new Random(c * 31L + hw);
            float[] x = fill(r, batch * hw * c, 1.5f, 0.3f), dy = fill(r, x.length, 1f, 0f);
            float[] gamma = fill(r, c, 0.5f, 1f), beta = fill(r, c, 0.5f, 0f);
            for (boolean silu : new boolean[]{false, true}) {
                String what = batch + "x" + hw + "x" + c + " groups " + groups + (silu ? " + silu" : "");
                float[] dGamma = new float[c], dBeta = new float[c];
                float[] dx = NormGrad.groupNorm(x, dy, batch, hw, c, groups, 1e-5f, gamma, beta, silu, true, dGamma, dBeta);
                double[][] want = reference(x, dy, batch, hw, c, groups, 1e-5, gamma, beta, silu);
                assertClose(want[0], dx, 2e-4, what + " dX");
                assertClose(want[1], dGamma, 2e-4, what + " dGamma");
                assertClose(want[2], dBeta, 2e-4, what + " dBeta");

                float[] addG = dGamma.clone(), addB = dBeta.clone();
                assertNull(NormGrad.groupNorm(x, dy, batch, hw, c, groups, 1e-5f, gamma, beta, silu, false, addG, addB));
                for (int j = 0; j < c; j++) {
                    assertEquals(2 * dGamma[j], addG[j], 1e-5 * (1 + Math.abs(dGamma[j])), what + " dGamma adds in");
                    assertEquals(2 * dBeta[j], addB[j], 1e-5 * (1 + Math.abs(dBeta[j])), what + " dBeta adds in");
                }
            }
        }
    }

    /** {dX, dGamma, dBeta}: y = x̂·γ + β (then SiLU), x̂ = (x − μ)/σ over each image's group. */
    private static double[][] reference(float[] x, float[] dy, int batch, int hw, int c, int groups, double eps,
                                        float[] gamma, float[] beta, boolean silu) {
        int cg = c / groups;
        double n = (double) hw * cg;
        double[] dx = new double[x.length], dGamma = new double[c], dBeta = new double[c];
        for (int b = 0; b < batch; b++)
            for (int g = 0; g < groups; g++) {
                double sum = 0, sq = 0;
                for (int p = 0; p < hw; p++) for (int j = g * cg; j < (g + 1) * cg; j++) sum += x[(b * hw + p) * c + j];
                double mean = sum / n;
                for (int p = 0; p < hw; p++)
                    for (int j = g * cg; j < (g + 1) * cg; j++) sq += Math.pow(x[(b * hw + p) * c + j] - mean, 2);
                double rstd = 1 / Math.sqrt(sq / n + eps), s1 = 0, s2 = 0;
                double[] dxhat = new double[hw * cg], xhat = new double[hw * cg];
                for (int p = 0; p < hw; p++)
                    for (int k = 0; k < cg; k++) {
                        int j = g * cg + k, i = (b * hw + p) * c + j;
                        xhat[p * cg + k] = (x[i] - mean) * rstd;
                        double z = xhat[p * cg + k] * gamma[j] + beta[j], sig = 1 / (1 + Math.exp(-z));
                        double d = dy[i] * (silu ? sig * (1 + z * (1 - sig)) : 1);
                        dGamma[j] += d * xhat[p * cg + k];
                        dBeta[j] += d;
                        dxhat[p * cg + k] = d * gamma[j];
                        s1 += dxhat[p * cg + k];
                        s2 += dxhat[p * cg + k] * xhat[p * cg + k];
                    }
                for (int p = 0; p < hw; p++)
                    for (int k = 0; k < cg; k++) {
                        int i = (b * hw + p) * c + g * cg + k;
                        dx[i] = rstd * (dxhat[p * cg + k] - s1 / n - xhat[p * cg + k] * s2 / n);
                    }
            }
        return new double[][]{dx, dGamma, dBeta};
    }

    private static float[] fill(Random r, int n, float scale, float offset) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = offset + scale * (float) r.nextGaussian();
        return v;
    }

    private static void assertClose(double[] want, float[] got, double tol, String what) {
        double max = 0;
        for (double w : want) max = Math.max(max, Math.abs(w));
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], tol * (1 + max), what + " [" + i + "]");
    }
}
