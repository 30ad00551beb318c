package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Buffers;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Group and layer normalization, with SiLU fused into group norm (the pattern every ResNet block uses). */
public final class Norms {
    private static final VectorSpecies<Float> S = VectorWidth.BLOCK_FLOAT;

    private Norms() {}

    private static final int PIXELS_PER_TASK = 256;

    /**
     * GroupNorm over a channels-last map [batch][hw][c]; returns a new array. Statistics are two-pass (mean, then
     * squared deviations) with per-chunk float sums combined in double, so large maps keep fp32-level accuracy;
     * every pass runs along the contiguous channel axis, vectorized and split over pixel chunks.
     */
    public static float[] groupNorm(float[] x, int batch, int hw, int c, int groups, float eps,
                                    float[] gamma, float[] beta, boolean silu) {
        float[][] affine = groupNormAffine(x, batch, hw, c, groups, eps, gamma, beta);
        float[] scale = affine[0], shift = affine[1];
        int chunks = chunks(hw);
        float[] out = Buffers.take(x.length);
        Parallel.forEach(batch * chunks, t -> {
            int b = t / chunks;
            for (int p = chunkStart(t % chunks); p < chunkEnd(t % chunks, hw); p++) applyAffine(x, (b * hw + p) * c, out, (b * hw + p) * c, c, scale, shift, b * c, silu);
        });
        return out;
    }

    /**
     * The statistics half of {@link #groupNorm}: per image and channel, {scale, shift} ([batch][c] each) such that
     * the normalized value is x·scale + shift, so a consumer can normalize values as it reads them.
     */
    public static float[][] groupNormAffine(float[] x, int batch, int hw, int c, int groups, float eps, float[] gamma, float[] beta) {
        float[][] stats = groupNormStats(x, batch, hw, c, groups, eps);
        float[] mean = stats[0], scale = stats[1], shift = new float[batch * c];
        for (int i = 0; i < batch * c; i++) {
            scale[i] *= gamma[i % c];
            shift[i] = beta[i % c] - mean[i] * scale[i];
        }
        return new float[][]{scale, shift};
    }

    /** Per image and channel, {mean, 1/std} of the channel's group ([batch][c] each). */
    static float[][] groupNormStats(float[] x, int batch, int hw, int c, int groups, float eps) {
        int cg = c / groups;
        int chunks = chunks(hw), tasks = batch * chunks;
        double count = (double) hw * cg;
        double[][] partial = new double[tasks][];
        Parallel.forEach(tasks, t -> partial[t] = channelSums(x, t / chunks, t % chunks, hw, c, null));
        float[] mean = perChannelGroupMean(partial, batch, chunks, c, cg, count);
        Parallel.forEach(tasks, t -> partial[t] = channelSums(x, t / chunks, t % chunks, hw, c, mean));
        float[] rstd = perChannelGroupMean(partial, batch, chunks, c, cg, count);
        for (int i = 0; i < rstd.length; i++) rstd[i] = (float) (1.0 / Math.sqrt(rstd[i] + (double) eps));
        return new float[][]{mean, rstd};
    }

    /** Pixel chunks per image: the unit of parallel work, fixed by the shape alone so results never depend on threads. */
    static int chunks(int hw) {
        return (hw + PIXELS_PER_TASK - 1) / PIXELS_PER_TASK;
    }

    /** Chunk k covers the pixels [chunkStart(k), chunkEnd(k, hw)). */
    static int chunkStart(int k) {
        return k * PIXELS_PER_TASK;
    }

    static int chunkEnd(int k, int hw) {
        return Math.min(hw, (k + 1) * PIXELS_PER_TASK);
    }

    /** dst[d..d+c) = x·scale + shift (then SiLU) for the c channels of one pixel at src[s..s+c); scale/shift from sOff. */
    static void applyAffine(float[] src, int s, float[] dst, int d, int c, float[] scale, float[] shift, int sOff, boolean silu) {
        int j = 0;
        for (int end = VectorWidth.blockEnd(0, c); j < end; j += S.length()) {
            FloatVector v = FloatVector.fromArray(S, src, s + j)
                    .fma(FloatVector.fromArray(S, scale, sOff + j), FloatVector.fromArray(S, shift, sOff + j));
            (silu ? siluVec(v) : v).intoArray(dst, d + j);
        }
        for (; j < c; j++) {
            float v = src[s + j] * scale[sOff + j] + shift[sOff + j];
            dst[d + j] = silu ? v / (1f + (float) Math.exp(-v)) : v;
        }
    }

    /** Per-channel Σx (center == null) or Σ(x − center[c])² over one chunk of pixels of image b. */
    private static double[] channelSums(float[] x, int b, int chunk, int hw, int c, float[] center) {
        float[] acc = new float[c];
        for (int p = chunkStart(chunk); p < chunkEnd(chunk, hw); p++) {
            int o = (b * hw + p) * c, j = 0;
            for (int end = VectorWidth.blockEnd(0, c); j < end; j += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, o + j);
                if (center != null) {
                    v = v.sub(FloatVector.fromArray(S, center, b * c + j));
                    v = v.mul(v);
                }
                v.add(FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
            }
            for (; j < c; j++) {
                float v = center == null ? x[o + j] : x[o + j] - center[b * c + j];
                acc[j] += center == null ? v : v * v;
            }
        }
        double[] out = new double[c];
        for (int j = 0; j < c; j++) out[j] = acc[j];
        return out;
    }

    /** Sums chunk partials per (image, group) and spreads the group mean back to each channel: [batch][c]. */
    static float[] perChannelGroupMean(double[][] partial, int batch, int chunks, int c, int cg, double count) {
        float[] out = new float[batch * c];
        for (int b = 0; b < batch; b++) {
            for (int g0 = 0; g0 < c; g0 += cg) {
                double s = 0;
                for (int k = 0; k < chunks; k++) for (int j = g0; j < g0 + cg; j++) s += partial[b * chunks + k][j];
                java.util.Arrays.fill(out, b * c + g0, b * c + g0 + cg, (float) (s / count));
            }
        }
        return out;
    }

    /** LayerNorm over the last dimension of [rows][c]; returns a new array. */
    public static float[] layerNorm(float[] x, int rows, int c, float eps, float[] gamma, float[] beta) {
        float[] out = Buffers.take(rows * c);
        Parallel.forEach(rows, r -> {
            int o = r * c;
            double sum = 0;
            for (int j = 0; j < c; j++) sum += x[o + j];
            double mean = sum / c, sq = 0;
            for (int j = 0; j < c; j++) {
                double d = x[o + j] - mean;
                sq += d * d;
            }
            float inv = (float) (1.0 / Math.sqrt(sq / c + eps)), fm = (float) mean;
            int j = 0;
            FloatVector vm = FloatVector.broadcast(S, fm), vi = FloatVector.broadcast(S, inv);
            for (int end = VectorWidth.blockEnd(0, c); j < end; j += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, o + j).sub(vm).mul(vi);
                v.fma(FloatVector.fromArray(S, gamma, j), FloatVector.fromArray(S, beta, j)).intoArray(out, o + j);
            }
            for (; j < c; j++) out[o + j] = (x[o + j] - fm) * inv * gamma[j] + beta[j];
        });
        return out;
    }

    static FloatVector siluVec(FloatVector v) {
        return VectorMath.silu(v);
    }
}
