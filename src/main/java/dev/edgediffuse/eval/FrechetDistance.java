package dev.edgediffuse.eval;

/**
 * The Fréchet distance between Gaussians fitted to two feature sets (the FID formula):
 * ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½). The trace of the matrix square root is taken as Tr((√Σ₁ Σ₂ √Σ₁)^½),
 * which is symmetric, so both roots come from symmetric eigendecompositions (stable where Σ₁Σ₂ is not symmetric).
 */
public final class FrechetDistance {
    private FrechetDistance() {}

    /**
     * FID's two terms: how far apart the means are, ‖μ₁ − μ₂‖², and how the spreads differ, the trace part. A
     * model that shifts every image alike moves the first; one that loses detail or variety, the second.
     */
    public record Terms(double means, double covariances) {
        public double total() {
            return means + covariances;
        }
    }

    public static double between(float[][] a, float[][] b) {
        return terms(a, b).total();
    }

    /** features: rows of dimension d (n rows each, n ≥ 2). */
    public static Terms terms(float[][] a, float[][] b) {
        int d = a[0].length;
        double[] muA = mean(a, d), muB = mean(b, d);
        double[][] covA = covariance(a, muA), covB = covariance(b, muB);
        double diff = 0;
        for (int i = 0; i < d; i++) diff += (muA[i] - muB[i]) * (muA[i] - muB[i]);
        double[][] rootA = SymmetricEigen.sqrt(covA);
        double[][] inner = multiply(multiply(rootA, covB), rootA);
        symmetrize(inner);
        double traceRoot = 0;
        for (double ev : SymmetricEigen.values(inner)) traceRoot += Math.sqrt(Math.max(ev, 0));
        double trace = 0;
        for (int i = 0; i < d; i++) trace += covA[i][i] + covB[i][i];
        return new Terms(diff, trace - 2 * traceRoot);
    }

    static double[] mean(float[][] x, int d) {
        double[] mu = new double[d];
        for (float[] row : x) for (int i = 0; i < d; i++) mu[i] += row[i];
        for (int i = 0; i < d; i++) mu[i] /= x.length;
        return mu;
    }

    /** Unbiased covariance (n − 1), as numpy.cov and the FID reference use. */
    static double[][] covariance(float[][] x, double[] mu) {
        int d = mu.length;
        double[][] c = new double[d][d];
        double[] centered = new double[d];
        for (float[] row : x) {
            for (int i = 0; i < d; i++) centered[i] = row[i] - mu[i];
            for (int i = 0; i < d; i++) {
                double ci = centered[i];
                for (int j = i; j < d; j++) c[i][j] += ci * centered[j];
            }
        }
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++) {
                c[i][j] /= x.length - 1;
                c[j][i] = c[i][j];
            }
        }
        return c;
    }

    static double[][] multiply(double[][] a, double[][] b) {
        int n = a.length, m = b[0].length, k = b.length;
        double[][] c = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < k; p++) {
                double v = a[i][p];
                if (v == 0) continue;
                for (int j = 0; j < m; j++) c[i][j] += v * b[p][j];
            }
        }
        return c;
    }

    private static void symmetrize(double[][] m) {
        for (int i = 0; i < m.length; i++) {
            for (int j = i + 1; j < m.length; j++) {
                double v = 0.5 * (m[i][j] + m[j][i]);
                m[i][j] = v;
                m[j][i] = v;
            }
        }
    }
}
