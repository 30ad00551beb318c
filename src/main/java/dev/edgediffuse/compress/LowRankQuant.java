package dev.edgediffuse.compress;

import dev.edgediffuse.kernels.Parallel;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.MemorySegment;

/**
 * SVDQuant's low-rank branch in its weight-only form (W4A16, where its smoothing search degenerates to none): a
 * linear weight W [N][K] becomes a 16-bit rank-r product up·down plus a quantized residual, y = x·(up·down)ᵀ + x·Q(R)ᵀ.
 * The branch starts as W's top-r SVD (split √σ to each side, rounded to f16 so the residual absorbs that rounding),
 * R = W − up·down is quantized, and then refined as deepcompressor's {@code calib/lowrank.py} does: the branch becomes
 * the top-r SVD of W − Q(R), R is quantized again, and the pair with the least output error over the calibration
 * inputs (tr(ΔW·H·ΔWᵀ); the weight error where there is no calibration) is kept; refinement stops when it rises.
 */
public final class LowRankQuant {
    /** The stored form: the residual under the layer's own name, and the branch as f16 [r][K] and [N][r]. */
    public record Result(Weight residual, float[] down, float[] up, int rank, double error, double plainError, int iterations) {}

    private LowRankQuant() {}

    /** Names of the branch's tensors beside {@code <layer>.weight}. */
    public static String downName(String weightName) {
        return weightName.substring(0, weightName.length() - ".weight".length()) + ".lowrank_down.weight";
    }

    public static String upName(String weightName) {
        return weightName.substring(0, weightName.length() - ".weight".length()) + ".lowrank_up.weight";
    }

    /**
     * {@code w} as branch + residual in {@code format}, at most {@code iterations} refinements; {@code plainError}
     * in the result is the error of quantizing w without a branch (the same rounding), for the report.
     */
    public static Result apply(Weight w, DType format, Quantizer.Clip clip, Rounding rounding, Calibration.Layer calib, int rank, int iterations) {
        int n = w.shape()[0];
        int k = (int) (w.size() / n);
        if (rank < 1 || rank >= Math.min(n, k)) throw new IllegalArgumentException(w.name() + ": rank " + rank + " does not fit a " + n + "x" + k + " weight");
        float[] values = w.toFloats();
        double[] a = new double[values.length];
        for (int i = 0; i < a.length; i++) a[i] = values[i];
        double plain = error(values, rounding.apply(w, format, clip, calib).toFloats(), calib, n, k);
        TopSvd.Result svd = TopSvd.of(a, n, k, rank, null, 6, 35);
        Result best = null;
        int done = 0;
        for (int it = 0; it <= iterations; it++) {
            float[] down = new float[rank * k], up = new float[n * rank];
            for (int t = 0; t < rank; t++) {
                double root = Math.sqrt(svd.s()[t]);
                for (int j = 0; j < k; j++) down[t * k + j] = f16(svd.v()[t][j] * root);
                for (int i = 0; i < n; i++) up[i * rank + t] = f16(svd.u()[t][i] * root);
            }
            float[] branch = product(up, down, n, rank, k);
            float[] residual = new float[values.length];
            for (int i = 0; i < residual.length; i++) residual[i] = values[i] - branch[i];
            Weight q = rounding.apply(new Weight(w.name(), DType.F32, w.shape().clone(), MemorySegment.ofArray(residual)), format, clip, calib);
            float[] dq = q.toFloats();
            float[] approx = new float[values.length];
            for (int i = 0; i < approx.length; i++) approx[i] = branch[i] + dq[i];
            double err = error(values, approx, calib, n, k);
            done = it + 1;
            if (best != null && err >= best.error) break;
            best = new Result(q, down, up, rank, err, plain, done);
            if (it == iterations) break;
            double[] target = new double[values.length];
            for (int i = 0; i < target.length; i++) target[i] = (double) values[i] - dq[i];
            svd = TopSvd.of(target, n, k, rank, svd.v(), 2, 35 + it);
        }
        return new Result(best.residual, best.down, best.up, rank, best.error, plain, done);
    }

    /** Output error over the calibration inputs, or the squared weight error without calibration. */
    static double error(float[] w, float[] approx, Calibration.Layer calib, int n, int k) {
        if (calib != null && calib.k == k) return LayerError.of(w, approx, calib);
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            double d = (double) w[i] - approx[i];
            s += d * d;
        }
        return s;
    }

    /** up [n][r] · down [r][k]. */
    static float[] product(float[] up, float[] down, int n, int r, int k) {
        float[] out = new float[n * k];
        Parallel.forEach(n, i -> {
            for (int t = 0; t < r; t++) {
                float u = up[i * r + t];
                for (int j = 0; j < k; j++) out[i * k + j] += u * down[t * k + j];
            }
        });
        return out;
    }

    private static float f16(double v) {
        return Float.float16ToFloat(Float.floatToFloat16((float) v));
    }

    /** Extra bits per weight the branch costs: r·(N + K) 16-bit values over N·K weights. */
    public static double extraBits(int n, int k, int rank) {
        return 16.0 * rank * (n + k) / ((double) n * k);
    }
}
