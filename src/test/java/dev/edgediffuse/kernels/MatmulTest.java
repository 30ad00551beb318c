package dev.edgediffuse.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The three products back-propagation uses against the triple loop in double precision, with column counts that give
 * whole and partial 16-column panels, and a reduction longer than one of tn's chunks.
 */
class MatmulTest {
    @Test
    void productsMatchTheTripleLoop() {
        Random r = new Random(11);
        for (int[] s : new int[][]{{5, 300, 37}, {16, 40, 32}, {3, 7, 5}}) {
            int m = s[0], k = s[1], n = s[2];
            float[] a = random(r, m * k), b = random(r, k * n), bt = random(r, n * k), at = random(r, k * m);
            double[] nn = new double[m * n], nt = new double[m * n], tn = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    for (int p = 0; p < k; p++) {
                        nn[i * n + j] += (double) a[i * k + p] * b[p * n + j];
                        nt[i * n + j] += (double) a[i * k + p] * bt[j * k + p];
                        tn[i * n + j] += (double) at[p * m + i] * b[p * n + j];
                    }
            String shape = m + "x" + k + "x" + n;
            assertClose(nn, Matmul.nn(a, m, k, b, n), "nn " + shape);
            assertClose(nt, Matmul.nt(a, m, k, bt, n), "nt " + shape);
            float[] first = Matmul.tn(at, k, m, b, n);
            assertClose(tn, first, "tn " + shape);
            float[] kept = first.clone();
            assertNotSame(first, Matmul.tn(at, k, m, b, n), "tn returns a new array each call");
            assertArrayEquals(kept, first, "tn's per-thread scratch is not its result: a second call leaves the first result alone");
        }
    }

    @Test
    void aOneChunkReductionSplitOverRowsGivesTheWholeGemmsBits() {
        Random r = new Random(12);
        int k = 200, m = 67, n = 40; // one chunk of the reduction, 12 row blocks (the last partial), a partial panel
        float[] at = random(r, k * m), b = random(r, k * n);
        float[] whole = Matmul.nn(Matmul.transpose(at, k, m), m, k, b, n);
        float[] split = Matmul.tn(at, k, m, b, n);
        for (int i = 0; i < whole.length; i++) {
            assertEquals(Float.floatToRawIntBits(0f + whole[i]), Float.floatToRawIntBits(split[i]), "element " + i);
        }
    }

    @Test
    void aChunkedReductionGivesTheSameBitsOnAnyNumberOfThreads() {
        Random r = new Random(13);
        int k = 1100, m = 50, n = 20; // five chunks (the last partial): two lanes of three and two; 50 rows, not whole blocks
        float[] at = random(r, k * m), b = random(r, k * n);
        double[] want = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++) want[i * n + j] += (double) at[p * m + i] * b[p * n + j];
        int before = Parallel.threads();
        try {
            Parallel.setThreads(2);
            float[] two = Matmul.tn(at, k, m, b, n);
            assertClose(want, two, "tn on 2 threads");
            for (int threads : new int[]{1, 3, 4, 8}) {
                Parallel.setThreads(threads);
                assertArrayEquals(two, Matmul.tn(at, k, m, b, n), "the same sums in the same order on " + threads + " threads");
            }
        } finally {
            Parallel.setThreads(before);
        }
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void rowMaximaOfAProductAreThoseOfTheWholeProduct() {
        Random r = new Random(14);
        // rows spanning several blocks (the last partial) and a partial panel; two rows with a tie at columns 3 and 9
        int m = 101, k = 24, n = 37;
        float[] a = random(r, m * k), b = random(r, n * k);
        System.arraycopy(b, 3 * k, b, 9 * k, k);
        float[] whole = Matmul.nt(a, m, k, b, n), max = new float[m];
        int[] argmax = new int[m];
        Matmul.ntRowMax(a, m, k, b, n, max, argmax);
        for (int i = 0; i < m; i++) {
            int best = 0;
            for (int j = 1; j < n; j++) if (whole[i * n + j] > whole[i * n + best]) best = j;
            assertEquals(best, argmax[i], "row " + i + ": the first column of the largest entry");
            assertEquals(whole[i * n + best], max[i], "row " + i);
            assertTrue(argmax[i] != 9, "a tie goes to the first column");
        }
    }

    private static void assertClose(double[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-4 * (1 + Math.abs(want[i])), what + " [" + i + "]");
    }
}
