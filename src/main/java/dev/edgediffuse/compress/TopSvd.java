package dev.edgediffuse.compress;

import dev.edgediffuse.eval.SymmetricEigen;
import dev.edgediffuse.kernels.Parallel;

import java.util.Random;

/**
 * The top-r singular triplets of a matrix A [n][k] in double, by subspace iteration with Rayleigh–Ritz (Halko et
 * al. 2011): an orthonormal basis Q of A·Ω (Ω Gaussian with r + 8 columns, or a previous call's right vectors to
 * warm-start), refined by alternating products with Aᵀ and A; then the small problem B = QᵀA is solved through the
 * eigenvectors of B·Bᵀ (Jacobi). Enough for a low-rank branch, and far cheaper than a full SVD of a 1280×10240
 * matrix.
 */
public final class TopSvd {
    static final int OVERSAMPLE = 8;

    /** U [n][r] (column-major by triplet: u[j][i]), singular values (descending), V [k][r] (v[j][i]). */
    public record Result(double[][] u, double[] s, double[][] v) {
        public int rank() {
            return s.length;
        }
    }

    private TopSvd() {}

    /**
     * The top {@code r} triplets of {@code a} [n][k]; {@code start} (nullable) are right vectors to begin from (a
     * previous result), {@code iterations} the subspace refinements.
     */
    public static Result of(double[] a, int n, int k, int r, double[][] start, int iterations, long seed) {
        int p = Math.min(Math.min(n, k), r + OVERSAMPLE);
        r = Math.min(r, p);
        double[][] omega = new double[p][k];
        Random rng = new Random(seed);
        for (int j = 0; j < p; j++) {
            for (int i = 0; i < k; i++) omega[j][i] = start != null && j < start.length ? start[j][i] : rng.nextGaussian();
        }
        double[][] q = orthonormal(times(a, n, k, omega));
        for (int it = 0; it < iterations; it++) {
            double[][] z = orthonormal(timesTransposed(a, n, k, q));
            q = orthonormal(times(a, n, k, z));
        }
        double[][] b = timesTransposed(a, n, k, q); // Bᵀ = Aᵀ·Q: p rows of length k
        double[][] gram = new double[p][p];
        for (int i = 0; i < p; i++) for (int j = i; j < p; j++) gram[i][j] = gram[j][i] = dot(b[i], b[j]);
        double[][] vectors = new double[p][p];
        double[] lambda = SymmetricEigen.decompose(gram, vectors);
        Integer[] order = new Integer[p];
        for (int i = 0; i < p; i++) order[i] = i;
        java.util.Arrays.sort(order, (x, y) -> Double.compare(lambda[y], lambda[x]));
        double[][] u = new double[r][n], v = new double[r][k];
        double[] s = new double[r];
        for (int t = 0; t < r; t++) {
            int e = order[t];
            s[t] = Math.sqrt(Math.max(lambda[e], 0));
            for (int j = 0; j < p; j++) {
                double c = vectors[j][e];
                for (int i = 0; i < n; i++) u[t][i] += q[j][i] * c;
                for (int i = 0; i < k; i++) v[t][i] += b[j][i] * c;
            }
            if (s[t] > 0) for (int i = 0; i < k; i++) v[t][i] /= s[t];
        }
        return new Result(u, s, v);
    }

    /** A·xⱼ for each vector xⱼ of length k: vectors of length n. */
    static double[][] times(double[] a, int n, int k, double[][] x) {
        double[][] y = new double[x.length][n];
        Parallel.forEach(n, i -> {
            int base = i * k;
            for (int j = 0; j < x.length; j++) {
                double[] xj = x[j];
                double s = 0;
                for (int c = 0; c < k; c++) s += a[base + c] * xj[c];
                y[j][i] = s;
            }
        });
        return y;
    }

    /** Aᵀ·yⱼ for each vector yⱼ of length n: vectors of length k. */
    static double[][] timesTransposed(double[] a, int n, int k, double[][] y) {
        int tasks = Math.max(1, Math.min(Parallel.threads() * 4, y.length));
        double[][] out = new double[y.length][k];
        Parallel.forEach(tasks, t -> {
            for (int j = t; j < y.length; j += tasks) {
                double[] o = out[j], yj = y[j];
                for (int i = 0; i < n; i++) {
                    double w = yj[i];
                    if (w == 0) continue;
                    int base = i * k;
                    for (int c = 0; c < k; c++) o[c] += w * a[base + c];
                }
            }
        });
        return out;
    }

    /** Modified Gram–Schmidt, twice (the second pass restores orthogonality lost to rounding); zero vectors stay zero. */
    static double[][] orthonormal(double[][] x) {
        for (int pass = 0; pass < 2; pass++) {
            for (int j = 0; j < x.length; j++) {
                for (int i = 0; i < j; i++) {
                    double d = dot(x[i], x[j]);
                    double[] xi = x[i], xj = x[j];
                    for (int c = 0; c < xj.length; c++) xj[c] -= d * xi[c];
                }
                double norm = Math.sqrt(dot(x[j], x[j]));
                if (norm > 1e-300) for (int c = 0; c < x[j].length; c++) x[j][c] /= norm;
                else java.util.Arrays.fill(x[j], 0);
            }
        }
        return x;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
