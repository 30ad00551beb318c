package dev.edgediffuse.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The vectorized optimizer loops against the plain scalar loops they replace, bit for bit: a recipe must keep
 * reproducing its model to the last bit. (train.OptimizerTest checks AdamW against the textbook formulas.)
 */
class OptimizerTest {
    private static final int N = 1003; // 250 four-lane blocks and a tail of 3

    /** Gradients with all-zero runs (unused rows), zeros inside busy blocks, negative zeros and a spread of scales. */
    private static float[] gradient(Random r) {
        float[] g = new float[N];
        for (int i = 0; i < N; i++) {
            int block = i / 8;
            if (block % 3 == 0 || r.nextInt(10) == 0) continue; // the second: zero now, not before (moments stay busy)
            g[i] = i % 5 == 0 ? (i % 2 == 0 ? -0f : 0f) : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 4));
        }
        return g;
    }

    @Test
    void adamWGivesTheScalarLoopsBitsOverStepsAndRanges() {
        Random r = new Random(11);
        for (boolean decay : new boolean[]{true, false}) {
            float[] w = new float[N], m = new float[N], v = new float[N];
            for (int i = 0; i < N; i++) w[i] = (i / 8) % 6 == 0 ? 0f : (float) r.nextGaussian();
            float[] w2 = w.clone(), m2 = m.clone(), v2 = v.clone();
            for (int step = 1; step <= 5; step++) {
                float[] g = gradient(r);
                float clip = step == 2 ? 0.37f : 1f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, lrT = (float) 6e-4, wd = 0.01f;
                double lr = 6e-4, bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
                var s = new Optimizer.AdamWStep(clip, beta1, beta2, bc1, bc2, eps, lr, decay, lrT * wd);
                int split = 1 + r.nextInt(N - 2); // two ranges with unaligned ends, as the chunks of a parameter array
                Optimizer.adamW(w, g, m, v, 0, split, s);
                Optimizer.adamW(w, g, m, v, split, N, s);
                scalarAdamW(w2, g, m2, v2, clip, beta1, beta2, bc1, bc2, eps, lr, decay, lrT * wd);
                for (int i = 0; i < N; i++) {
                    String at = "decay " + decay + ", step " + step + ", element " + i;
                    assertEquals(Float.floatToRawIntBits(w2[i]), Float.floatToRawIntBits(w[i]), "w, " + at);
                    assertEquals(Float.floatToRawIntBits(m2[i]), Float.floatToRawIntBits(m[i]), "m, " + at);
                    assertEquals(Float.floatToRawIntBits(v2[i]), Float.floatToRawIntBits(v[i]), "v, " + at);
                }
            }
        }
    }

    /** The loop AdamW ran before it was vectorized. */
    private static void scalarAdamW(float[] w, float[] g, float[] m, float[] v, float clip, float beta1, float beta2, double bc1,
                                    double bc2, float eps, double lr, boolean decay, float lrDecay) {
        for (int i = 0; i < w.length; i++) {
            float gi = g[i] * clip;
            if (gi == 0 && m[i] == 0 && v[i] == 0) {
                if (decay) w[i] -= lrDecay * w[i];
                continue;
            }
            m[i] = beta1 * m[i] + (1 - beta1) * gi;
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
            double update = (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + eps);
            if (decay) w[i] -= lrDecay * w[i];
            w[i] -= (float) (lr * update);
        }
    }

    @Test
    void sumOfSquaresAddsInTheScalarOrder() {
        Random r = new Random(12);
        double sum = 0, expected = 0;
        for (int array = 0; array < 4; array++) {
            float[] g = gradient(r);
            float[] part = java.util.Arrays.copyOf(g, N - array); // tails of every length
            sum = Optimizer.sumOfSquares(part, sum);
            for (float x : part) expected += (double) x * x;
        }
        assertEquals(Double.doubleToRawLongBits(expected), Double.doubleToRawLongBits(sum));
        float[] nan = new float[16];
        nan[9] = Float.NaN;
        assertEquals(Double.NaN, Optimizer.sumOfSquares(nan, 1.0), "a NaN is not skipped");
    }
}
