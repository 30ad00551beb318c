package dev.edgediffuse.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Group and layer normalization, with SiLU fused into group norm (the pattern every ResNet block uses). */
public final class Norms {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;

    private Norms() {}

    /** GroupNorm over a channels-last map [batch][hw][c]; returns a new array. */
    public static float[] groupNorm(float[] x, int batch, int hw, int c, int groups, float eps,
                                    float[] gamma, float[] beta, boolean silu) {
        int cg = c / groups;
        float[] out = new float[x.length];
        Parallel.forEach(batch * groups, task -> {
            int b = task / groups, g = task % groups;
            int base = b * hw * c + g * cg;
            double sum = 0;
            for (int p = 0; p < hw; p++) {
                int o = base + p * c;
                for (int j = 0; j < cg; j++) sum += x[o + j];
            }
            double n = (double) hw * cg, mean = sum / n, sq = 0;
            for (int p = 0; p < hw; p++) {
                int o = base + p * c;
                for (int j = 0; j < cg; j++) {
                    double d = x[o + j] - mean;
                    sq += d * d;
                }
            }
            float inv = (float) (1.0 / Math.sqrt(sq / n + eps));
            float fm = (float) mean;
            for (int p = 0; p < hw; p++) {
                int o = base + p * c;
                for (int j = 0; j < cg; j++) {
                    float v = (x[o + j] - fm) * inv * gamma[g * cg + j] + beta[g * cg + j];
                    out[o + j] = silu ? v / (1f + (float) Math.exp(-v)) : v;
                }
            }
        });
        return out;
    }

    /** LayerNorm over the last dimension of [rows][c]; returns a new array. */
    public static float[] layerNorm(float[] x, int rows, int c, float eps, float[] gamma, float[] beta) {
        float[] out = new float[rows * c];
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
            for (; j <= c - 8; j += 8) {
                FloatVector v = FloatVector.fromArray(S, x, o + j).sub(vm).mul(vi);
                v.fma(FloatVector.fromArray(S, gamma, j), FloatVector.fromArray(S, beta, j)).intoArray(out, o + j);
            }
            for (; j < c; j++) out[o + j] = (x[o + j] - fm) * inv * gamma[j] + beta[j];
        });
        return out;
    }

    static FloatVector siluVec(FloatVector v) {
        return v.div(v.neg().lanewise(VectorOperators.EXP).add(1f));
    }
}
