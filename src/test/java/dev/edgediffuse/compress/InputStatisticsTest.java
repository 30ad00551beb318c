package dev.edgediffuse.compress;

import dev.edgediffuse.nn.DenseConv;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Hessians calibration accumulates: a linear layer's against XᵀX in double; a convolution's against the
 * convolution kernel itself — for any weight w, the output energy Σ‖conv(x)‖² equals rows · w·H·wᵀ, which holds
 * only if the patches are the kernel's, in the stored (c, ky, kx) order, padding included.
 */
class InputStatisticsTest {
    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void linearHessianIsXtXOverRowsInBlocks() {
        int k = 200, rows = 70;
        float[] x = gaussian(rows * k, 1);
        InputStatistics s = InputStatistics.linear("l", k, 128);
        s.observeRows(x, 0, 30);
        s.observeRows(x, 30, 40); // a second call, as forwardRows sees it
        assertEquals(rows, s.rows);
        assertEquals(2, s.hessian.length);
        for (int b = 0; b < 2; b++) {
            int c0 = b * 128, len = s.blockLength(b);
            for (int i = 0; i < len; i++) {
                for (int j = 0; j < len; j++) {
                    double e = 0;
                    for (int r = 0; r < rows; r++) e += (double) x[r * k + c0 + i] * x[r * k + c0 + j];
                    assertEquals(e, s.hessian[b][i * len + j], 1e-4 * rows);
                }
            }
        }
        float max = 0;
        for (int r = 0; r < rows; r++) max = Math.max(max, Math.abs(x[r * k + 7]));
        assertEquals(max, s.absMax[7]);
    }

    @Test
    void convHessianPairsWithTheKernelsPatches() {
        int c = 6, n = 5, kernel = 3;
        for (int[] pads : new int[][]{{1, 1, 1, 1}, {0, 1, 0, 1}}) {
            for (int stride : new int[]{1, 2}) {
                FeatureMap x = new FeatureMap(gaussian(2 * 7 * 9 * c, 3), 2, 7, 9, c);
                InputStatistics s = InputStatistics.conv("c", c, kernel, stride, pads, 128);
                s.observeMap(x);
                float[] w = gaussian(n * c * kernel * kernel, 4);
                DenseConv conv = new DenseConv(new Weights("t", Map.of("c.weight", Weight.ofFloats("c.weight", w, n, c, kernel, kernel))),
                        "c", c, n, kernel, stride, pads, false);
                float[] y = conv.forward(x).data();
                int k = c * kernel * kernel;
                for (int o = 0; o < n; o++) {
                    double energy = 0, quadratic = 0;
                    for (int p = o; p < y.length; p += n) energy += (double) y[p] * y[p];
                    for (int i = 0; i < k; i++) for (int j = 0; j < k; j++) quadratic += w[o * k + i] * s.hessian[0][i * k + j] * w[o * k + j];
                    assertEquals(energy, quadratic, 1e-4 * energy, "stride " + stride + " pads " + java.util.Arrays.toString(pads));
                }
                assertEquals(y.length / n, s.rows);
            }
        }
    }
}
