package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Buffers;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Element-wise activations and tensor arithmetic used between the GEMMs. */
public final class Activations {
    private static final VectorSpecies<Float> S = VectorWidth.BLOCK_FLOAT;

    private Activations() {}

    public static void silu(float[] x) {
        chunks(x.length, (a, b) -> {
            int i = a;
            for (int end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) Norms.siluVec(FloatVector.fromArray(S, x, i)).intoArray(x, i);
            for (; i < b; i++) x[i] = x[i] / (1f + (float) Math.exp(-x[i]));
        });
    }

    /** x·sigmoid(1.702x), CLIP's activation. */
    public static void quickGelu(float[] x) {
        chunks(x.length, (a, b) -> {
            for (int i = a; i < b; i++) x[i] = x[i] / (1f + (float) Math.exp(-1.702 * x[i]));
        });
    }

    /** Exact GELU, 0.5·x·(1 + erf(x/√2)). */
    public static void gelu(float[] x) {
        chunks(x.length, (a, b) -> {
            int i = a;
            for (int end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) VectorMath.gelu(FloatVector.fromArray(S, x, i)).intoArray(x, i);
            for (; i < b; i++) x[i] = gelu(x[i]);
        });
    }

    public static float gelu(float v) {
        return (float) (0.5 * v * (1.0 + erf(v / Math.sqrt(2.0))));
    }

    /** GEGLU: input rows [hidden | gate] of width 2d → hidden · gelu(gate), rows of width d. */
    public static float[] geglu(float[] x, int rows, int d) {
        float[] out = Buffers.take(rows * d);
        Parallel.forEach(rows, r -> {
            int in = r * 2 * d, o = r * d, j = 0;
            for (int end = VectorWidth.blockEnd(0, d); j < end; j += S.length()) {
                FloatVector gate = VectorMath.gelu(FloatVector.fromArray(S, x, in + d + j));
                FloatVector.fromArray(S, x, in + j).mul(gate).intoArray(out, o + j);
            }
            for (; j < d; j++) out[o + j] = x[in + j] * gelu(x[in + d + j]);
        });
        return out;
    }

    /** out[i] += y[i]. */
    public static void addInPlace(float[] x, float[] y) {
        addInPlace(x, 0, y);
    }

    /** x[at + i] += y[i] for every i of y. */
    public static void addInPlace(float[] x, int at, float[] y) {
        chunks(y.length, (a, b) -> {
            int i = a;
            for (int end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) FloatVector.fromArray(S, x, at + i).add(FloatVector.fromArray(S, y, i)).intoArray(x, at + i);
            for (; i < b; i++) x[at + i] += y[i];
        });
    }

    /** erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, below fp32 resolution of GELU's output). */
    public static double erf(double x) {
        double ax = Math.abs(x);
        double t = 1.0 / (1.0 + 0.3275911 * ax);
        double poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
        double v = 1.0 - poly * Math.exp(-ax * ax);
        return x < 0 ? -v : v;
    }

    /** Nearest-neighbour 2× upsampling of a channels-last map. */
    public static float[] upsample2x(float[] x, int batch, int h, int w, int c) {
        float[] out = new float[batch * h * w * c * 4];
        Parallel.forEach(batch * h, row -> {
            int b = row / h, y = row % h;
            for (int xx = 0; xx < w; xx++) {
                int src = ((b * h + y) * w + xx) * c;
                for (int dy = 0; dy < 2; dy++) {
                    for (int dx = 0; dx < 2; dx++) {
                        System.arraycopy(x, src, out, ((b * 2 * h + 2 * y + dy) * 2 * w + 2 * xx + dx) * c, c);
                    }
                }
            }
        });
        return out;
    }

    interface Range {
        void run(int from, int to);
    }

    static void chunks(int n, Range r) {
        int chunk = 1 << 14;
        int tasks = (n + chunk - 1) / chunk;
        Parallel.forEach(tasks, t -> r.run(t * chunk, Math.min(n, (t + 1) * chunk)));
    }
}
