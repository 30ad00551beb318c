package dev.edgediffuse.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The activation backward passes against their derivatives written out in double precision, on lengths that use
 * both the 8-lane vector loop and the scalar tail. (LayerGradientTest checks them against finite differences.)
 */
class ActivationGradTest {
    private static final Random R = new Random(3);

    @Test
    void elementwiseSlopes() {
        float[] x = random(45, 3f), dy = random(45, 1f);
        float[] silu = ActivationGrad.silu(x, dy), quick = ActivationGrad.quickGelu(x, dy), gelu = ActivationGrad.gelu(x, dy);
        for (int i = 0; i < x.length; i++) {
            double v = x[i], s = sigmoid(v), q = sigmoid(1.702 * v);
            assertEquals(dy[i] * (s + v * s * (1 - s)), silu[i], 1e-5, "silu " + i);
            assertEquals(dy[i] * (q + 1.702 * v * q * (1 - q)), quick[i], 1e-5, "quick gelu " + i);
            assertEquals(dy[i] * geluSlope(v), gelu[i], 1e-5, "gelu " + i);
        }
    }

    @Test
    void gegluGivesBothHalvesTheirGradient() {
        int rows = 3, d = 13;
        float[] x = random(rows * 2 * d, 3f), dy = random(rows * d, 1f);
        float[] dx = ActivationGrad.geglu(x, dy, rows, d);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < d; j++) {
                double hidden = x[r * 2 * d + j], gate = x[r * 2 * d + d + j], g = dy[r * d + j];
                assertEquals(g * gate * cdf(gate), dx[r * 2 * d + j], 1e-5, "hidden " + r + "," + j);
                assertEquals(g * hidden * geluSlope(gate), dx[r * 2 * d + d + j], 1e-5, "gate " + r + "," + j);
            }
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    /** Φ by numerical integration of the density: independent of any erf approximation. */
    private static double cdf(double v) {
        int n = 20000;
        double lo = -12, h = (v - lo) / n, sum = 0;
        for (int i = 0; i <= n; i++) sum += (i == 0 || i == n ? 0.5 : 1) * density(lo + i * h);
        return sum * h;
    }

    private static double density(double v) {
        return Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    }

    private static double geluSlope(double v) {
        return cdf(v) + v * density(v);
    }

    private static float[] random(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * (float) R.nextGaussian();
        return v;
    }
}
