package dev.edgediffuse.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Backward passes of {@link Norms}: statistics are recomputed from the saved input (cheaper than keeping them),
 * then dX = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) over each normalized set; γ and β gradients are accumulated.
 */
public final class NormGrad {
    private static final VectorSpecies<Float> S = VectorWidth.BLOCK_FLOAT;

    private NormGrad() {}

    /**
     * GroupNorm (optionally followed by SiLU) over [batch][hw][c]. Adds into dGamma and dBeta when they are not null;
     * returns dX, or null when {@code wantInput} is false. Like the forward pass it runs along the contiguous channel
     * axis, vectorized, in pixel chunks: (1) the upstream gradient through SiLU, dŷ, with its per-channel sums Σdŷ and
     * Σdŷ·x̂; (2) their group means; (3) dX from them.
     */
    public static float[] groupNorm(float[] x, float[] dy, int batch, int hw, int c, int groups, float eps,
                                    float[] gamma, float[] beta, boolean silu, boolean wantInput,
                                    float[] dGamma, float[] dBeta) {
        int cg = c / groups, chunks = Norms.chunks(hw), tasks = batch * chunks;
        float[][] stats = Norms.groupNormStats(x, batch, hw, c, groups, eps);
        float[] mean = stats[0], rstd = stats[1];
        float[] dyn = new float[x.length]; // dŷ, the gradient at the normalized value (after SiLU's slope); then dX
        double[][] sumDy = new double[tasks][], sumDyXhat = new double[tasks][];
        Parallel.forEach(tasks, t -> {
            int b = t / chunks;
            float[] s1 = new float[c], s2 = new float[c];
            for (int p = Norms.chunkStart(t % chunks); p < Norms.chunkEnd(t % chunks, hw); p++) {
                upstream(x, dy, dyn, (b * hw + p) * c, b * c, c, mean, rstd, gamma, beta, silu, s1, s2);
            }
            sumDy[t] = widen(s1);
            sumDyXhat[t] = widen(s2);
        });
        double[] perDy = new double[batch * c], perDyXhat = new double[batch * c];
        for (int t = 0; t < tasks; t++) {
            int b = t / chunks;
            for (int j = 0; j < c; j++) {
                perDy[b * c + j] += sumDy[t][j];
                perDyXhat[b * c + j] += sumDyXhat[t][j];
            }
        }
        for (int i = 0; i < batch * c; i++) {
            if (dGamma != null) dGamma[i % c] += (float) perDyXhat[i];
            if (dBeta != null) dBeta[i % c] += (float) perDy[i];
        }
        if (!wantInput) return null;
        // dX = rstd·(dŷ·γ − mean(dŷ·γ) − x̂·mean(dŷ·γ·x̂)), the means over each image's group
        float[] m1 = new float[batch * c], m2 = new float[batch * c];
        double n = (double) hw * cg;
        for (int b = 0; b < batch; b++)
            for (int g0 = 0; g0 < c; g0 += cg) {
                double gammaDy = 0, gammaDyXhat = 0;
                for (int j = g0; j < g0 + cg; j++) {
                    gammaDy += gamma[j] * perDy[b * c + j];
                    gammaDyXhat += gamma[j] * perDyXhat[b * c + j];
                }
                java.util.Arrays.fill(m1, b * c + g0, b * c + g0 + cg, (float) (gammaDy / n));
                java.util.Arrays.fill(m2, b * c + g0, b * c + g0 + cg, (float) (gammaDyXhat / n));
            }
        Parallel.forEach(tasks, t -> {
            int b = t / chunks;
            for (int p = Norms.chunkStart(t % chunks); p < Norms.chunkEnd(t % chunks, hw); p++) {
                inputGrad(x, dyn, (b * hw + p) * c, b * c, c, mean, rstd, gamma, m1, m2);
            }
        });
        return dyn;
    }

    /** One pixel's c channels at x[o..]: dyn = dy·SiLU'(ŷ) (or dy), and s1 += dyn, s2 += dyn·x̂ per channel. */
    private static void upstream(float[] x, float[] dy, float[] dyn, int o, int so, int c, float[] mean, float[] rstd,
                                 float[] gamma, float[] beta, boolean silu, float[] s1, float[] s2) {
        int j = 0;
        for (int end = VectorWidth.blockEnd(0, c); j < end; j += S.length()) {
            FloatVector xhat = FloatVector.fromArray(S, x, o + j).sub(FloatVector.fromArray(S, mean, so + j))
                    .mul(FloatVector.fromArray(S, rstd, so + j));
            FloatVector d = FloatVector.fromArray(S, dy, o + j);
            if (silu) d = d.mul(VectorMath.siluSlope(xhat.fma(FloatVector.fromArray(S, gamma, j), FloatVector.fromArray(S, beta, j))));
            d.intoArray(dyn, o + j);
            d.add(FloatVector.fromArray(S, s1, j)).intoArray(s1, j);
            d.fma(xhat, FloatVector.fromArray(S, s2, j)).intoArray(s2, j);
        }
        for (; j < c; j++) {
            float xhat = (x[o + j] - mean[so + j]) * rstd[so + j];
            float d = dy[o + j] * (silu ? (float) siluSlope(xhat * gamma[j] + beta[j]) : 1f);
            dyn[o + j] = d;
            s1[j] += d;
            s2[j] += d * xhat;
        }
    }

    /** Overwrites dyn[o..o+c) with dX = rstd·(dyn·γ − m1 − x̂·m2). */
    private static void inputGrad(float[] x, float[] dyn, int o, int so, int c, float[] mean, float[] rstd, float[] gamma,
                                  float[] m1, float[] m2) {
        int j = 0;
        for (int end = VectorWidth.blockEnd(0, c); j < end; j += S.length()) {
            FloatVector r = FloatVector.fromArray(S, rstd, so + j);
            FloatVector xhat = FloatVector.fromArray(S, x, o + j).sub(FloatVector.fromArray(S, mean, so + j)).mul(r);
            FloatVector g = FloatVector.fromArray(S, dyn, o + j).mul(FloatVector.fromArray(S, gamma, j))
                    .sub(FloatVector.fromArray(S, m1, so + j)).sub(xhat.mul(FloatVector.fromArray(S, m2, so + j)));
            g.mul(r).intoArray(dyn, o + j);
        }
        for (; j < c; j++) {
            float xhat = (x[o + j] - mean[so + j]) * rstd[so + j];
            dyn[o + j] = rstd[so + j] * (dyn[o + j] * gamma[j] - m1[so + j] - xhat * m2[so + j]);
        }
    }

    private static double[] widen(float[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) out[i] = v[i];
        return out;
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
