package dev.edgediffuse.compress;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Top-r singular triplets of a matrix built from a known SVD (random orthonormal U, V; chosen σ). */
class TopSvdTest {
    static double[][] orthonormalColumns(int n, int r, long seed) {
        Random rng = new Random(seed);
        double[][] q = new double[r][n];
        for (double[] v : q) for (int i = 0; i < n; i++) v[i] = rng.nextGaussian();
        return TopSvd.orthonormal(q);
    }

    @Test
    void recoversTheLeadingSingularValuesAndVectors() {
        int n = 90, k = 140, full = 60, r = 12;
        double[][] u = orthonormalColumns(n, full, 1), v = orthonormalColumns(k, full, 2);
        double[] sigma = new double[full];
        for (int i = 0; i < full; i++) sigma[i] = 10 * Math.pow(0.8, i); // decaying, distinct
        double[] a = new double[n * k];
        for (int t = 0; t < full; t++) for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) a[i * k + j] += sigma[t] * u[t][i] * v[t][j];
        TopSvd.Result res = TopSvd.of(a, n, k, r, null, 10, 7);
        for (int t = 0; t < r; t++) {
            assertEquals(sigma[t], res.s()[t], 1e-8 * sigma[0], "sigma " + t);
            double du = Math.abs(TopSvd.dot(res.u()[t], u[t])), dv = Math.abs(TopSvd.dot(res.v()[t], v[t]));
            assertTrue(du > 1 - 1e-6 && dv > 1 - 1e-6, "triplet " + t + ": |<u, u*>| = " + du + ", |<v, v*>| = " + dv);
        }
        // a warm start from the answer converges at once
        TopSvd.Result again = TopSvd.of(a, n, k, r, res.v(), 1, 8);
        for (int t = 0; t < r; t++) assertEquals(sigma[t], again.s()[t], 1e-8 * sigma[0]);
    }

    @Test
    void aMatrixOfLowerRankGivesZeroForTheRest() {
        int n = 30, k = 40;
        double[][] u = orthonormalColumns(n, 3, 3), v = orthonormalColumns(k, 3, 4);
        double[] a = new double[n * k];
        for (int t = 0; t < 3; t++) for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) a[i * k + j] += (3 - t) * u[t][i] * v[t][j];
        TopSvd.Result res = TopSvd.of(a, n, k, 5, null, 4, 1);
        assertEquals(3, res.s()[0], 1e-9);
        assertEquals(1, res.s()[2], 1e-9);
        assertEquals(0, res.s()[3], 1e-6);
        assertEquals(0, res.s()[4], 1e-6);
    }
}
