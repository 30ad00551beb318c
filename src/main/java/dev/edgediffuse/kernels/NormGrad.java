package dev.edgediffuse.kernels;

/**
 * Backward passes of {@link Norms}: statistics are recomputed from the saved input (cheaper than keeping them),
 * then dX = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) over each normalized set; γ and β gradients are accumulated.
 */
public final class NormGrad {
    private NormGrad() {}

    /**
     * GroupNorm (optionally followed by SiLU) over [batch][hw][c]. Adds into dGamma and dBeta when they are not null;
     * returns dX, or null when {@code wantInput} is false.
     */
    public static float[] groupNorm(float[] x, float[] dy, int batch, int hw, int c, int groups, float eps,
                                    float[] gamma, float[] beta, boolean silu, boolean wantInput,
                                    float[] dGamma, float[] dBeta) {
        int cg = c / groups;
        float[] dx = wantInput ? new float[x.length] : null;
        double n = (double) hw * cg;
        // one task per group: its channels are disjoint from every other task's, so γ/β sums need no reduction
        Parallel.forEach(groups, g -> {
            int c0 = g * cg;
            for (int b = 0; b < batch; b++) {
                double sum = 0, sq = 0;
                for (int p = 0; p < hw; p++)
                    for (int j = 0; j < cg; j++) sum += x[(b * hw + p) * c + c0 + j];
                double mean = sum / n;
                for (int p = 0; p < hw; p++)
                    for (int j = 0; j < cg; j++) {
                        double d = x[(b * hw + p) * c + c0 + j] - mean;
                        sq += d * d;
                    }
                double rstd = 1.0 / Math.sqrt(sq / n + eps);
                double s1 = 0, s2 = 0;
                for (int p = 0; p < hw; p++)
                    for (int j = 0; j < cg; j++) {
                        int i = (b * hw + p) * c + c0 + j, ch = c0 + j;
                        double xhat = (x[i] - mean) * rstd;
                        double dyn = dy[i] * (silu ? siluSlope(xhat * gamma[ch] + beta[ch]) : 1.0);
                        if (dGamma != null) dGamma[ch] += (float) (dyn * xhat);
                        if (dBeta != null) dBeta[ch] += (float) dyn;
                        double dxhat = dyn * gamma[ch];
                        s1 += dxhat;
                        s2 += dxhat * xhat;
                    }
                if (dx == null) continue;
                double m1 = s1 / n, m2 = s2 / n;
                for (int p = 0; p < hw; p++)
                    for (int j = 0; j < cg; j++) {
                        int i = (b * hw + p) * c + c0 + j, ch = c0 + j;
                        double xhat = (x[i] - mean) * rstd;
                        double dyn = dy[i] * (silu ? siluSlope(xhat * gamma[ch] + beta[ch]) : 1.0);
                        dx[i] = (float) (rstd * (dyn * gamma[ch] - m1 - xhat * m2));
                    }
            }
        });
        return dx;
    }

    /** LayerNorm over rows of width c; same contract as {@link #groupNorm}. */
    public static float[] layerNorm(float[] x, float[] dy, int rows, int c, float eps, float[] gamma,
                                    boolean wantInput, float[] dGamma, float[] dBeta) {
        float[] dx = wantInput ? new float[x.length] : null;
        int chunk = 64, tasks = (rows + chunk - 1) / chunk;
        double[][] partG = new double[tasks][], partB = new double[tasks][];
        Parallel.forEach(tasks, t -> {
            double[] pg = new double[c], pb = new double[c];
            for (int r = t * chunk; r < Math.min(rows, (t + 1) * chunk); r++) {
                int o = r * c;
                double sum = 0, sq = 0;
                for (int j = 0; j < c; j++) sum += x[o + j];
                double mean = sum / c;
                for (int j = 0; j < c; j++) sq += (x[o + j] - mean) * (x[o + j] - mean);
                double rstd = 1.0 / Math.sqrt(sq / c + eps), s1 = 0, s2 = 0;
                for (int j = 0; j < c; j++) {
                    double xhat = (x[o + j] - mean) * rstd;
                    pg[j] += dy[o + j] * xhat;
                    pb[j] += dy[o + j];
                    double dxhat = dy[o + j] * gamma[j];
                    s1 += dxhat;
                    s2 += dxhat * xhat;
                }
                if (dx == null) continue;
                for (int j = 0; j < c; j++) {
                    double xhat = (x[o + j] - mean) * rstd;
                    dx[o + j] = (float) (rstd * (dy[o + j] * gamma[j] - s1 / c - xhat * s2 / c));
                }
            }
            partG[t] = pg;
            partB[t] = pb;
        });
        for (int t = 0; t < tasks; t++)
            for (int j = 0; j < c; j++) {
                if (dGamma != null) dGamma[j] += (float) partG[t][j];
                if (dBeta != null) dBeta[j] += (float) partB[t][j];
            }
        return dx;
    }

    /** d/dz of z·σ(z). */
    static double siluSlope(double z) {
        double s = 1.0 / (1.0 + Math.exp(-z));
        return s * (1.0 + z * (1.0 - s));
    }
}
