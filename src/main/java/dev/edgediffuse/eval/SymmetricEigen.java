package dev.edgediffuse.eval;

/**
 * Eigendecomposition of symmetric matrices by cyclic Jacobi rotations (exact enough for feature covariances, d ≤ 512;
 * also the small projected problem of {@code compress.TopSvd}).
 */
public final class SymmetricEigen {
    private SymmetricEigen() {}

    /** Eigenvalues of symmetric {@code m} (not modified). */
    static double[] values(double[][] m) {
        return decompose(m, null);
    }

    /** The symmetric positive semi-definite square root V·diag(√max(λ,0))·Vᵀ. */
    static double[][] sqrt(double[][] m) {
        int n = m.length;
        double[][] v = new double[n][n];
        double[] lambda = decompose(m, v);
        double[][] out = new double[n][n];
        for (int k = 0; k < n; k++) {
            double s = Math.sqrt(Math.max(lambda[k], 0));
            if (s == 0) continue;
            for (int i = 0; i < n; i++) {
                double vik = v[i][k] * s;
                for (int j = 0; j < n; j++) out[i][j] += vik * v[j][k];
            }
        }
        return out;
    }

    /** Returns eigenvalues (unsorted); fills {@code vectors} (columns, n×n, zero on entry) when not null. */
    public static double[] decompose(double[][] m, double[][] vectors) {
        int n = m.length;
        double[][] a = new double[n][];
        for (int i = 0; i < n; i++) a[i] = m[i].clone();
        if (vectors != null) for (int i = 0; i < n; i++) vectors[i][i] = 1;
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0, diag = 0;
            for (int i = 0; i < n; i++) {
                diag += a[i][i] * a[i][i];
                for (int j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
            }
            if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    if (a[p][q] == 0) continue;
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                    rotate(a, vectors, p, q, c, s, n);
                }
            }
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = a[i][i];
        return out;
    }

    private static void rotate(double[][] a, double[][] v, int p, int q, double c, double s, int n) {
        for (int k = 0; k < n; k++) {
            double akp = a[k][p], akq = a[k][q];
            a[k][p] = c * akp - s * akq;
            a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) {
            double apk = a[p][k], aqk = a[q][k];
            a[p][k] = c * apk - s * aqk;
            a[q][k] = s * apk + c * aqk;
        }
        if (v != null) {
            for (int k = 0; k < n; k++) {
                double vkp = v[k][p], vkq = v[k][q];
                v[k][p] = c * vkp - s * vkq;
                v[k][q] = s * vkp + c * vkq;
            }
        }
    }
}
