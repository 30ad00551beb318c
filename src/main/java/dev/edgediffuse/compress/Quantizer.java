package dev.edgediffuse.compress;

import dev.edgediffuse.kernels.Parallel;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Floats → a quantized weight in the {@link QuantLayout} of its type. Each group gets its scale (and zero point) from
 * its own values: by default from the range (absmax for symmetric types, min/max including 0 for zero-point types),
 * which bounds every element's error by half a scale step; with {@link Clip#MSE} the range is shrunk by the ratio
 * in [0.5, 1] that minimises the group's squared error (outliers get clipped, the bulk gets finer steps). Codes are
 * rounded to nearest (ties to even). Scales are rounded up to their stored precision before the codes are
 * computed, so the codes are exact for the stored scale and nothing overflows the code range.
 */
public final class Quantizer {
    public enum Clip {
        ABSMAX, MSE;

        public static Clip parse(String s) {
            return switch (s) {
                case "absmax" -> ABSMAX;
                case "mse" -> MSE;
                default -> throw new IllegalArgumentException("clip must be absmax or mse, got '" + s + "'");
            };
        }
    }

    /** Clip ratios tried by {@link Clip#MSE}: 1.0 down to 0.5 in steps of 0.02. */
    private static final int RATIOS = 26;

    private Quantizer() {}

    /** Quantizes {@code w} (any float or quantized type) to {@code type}; the result lives on the heap. */
    public static Weight quantize(Weight w, DType type, Clip clip) {
        return new Weight(w.name(), type, w.shape().clone(), MemorySegment.ofArray(quantize(w.toFloats(), w.shape(), type, clip)));
    }

    /** The storage bytes (codes ‖ scales ‖ zeros) of {@code values} laid out as a weight of {@code shape}. */
    public static byte[] quantize(float[] values, int[] shape, DType type, Clip clip) {
        QuantLayout l = QuantLayout.of(type, shape);
        if (values.length != l.rows() * l.k()) throw new IllegalArgumentException(values.length + " values for shape " + java.util.Arrays.toString(shape));
        if (l.totalBytes() > Integer.MAX_VALUE) throw new IllegalArgumentException("weight too large to quantize in one piece");
        byte[] out = new byte[(int) l.totalBytes()];
        MemorySegment seg = MemorySegment.ofArray(out);
        int g = l.groupLength();
        int groups = (int) l.groups();
        // groups are independent: split them over the worker threads in chunks of ~64K elements
        int perTask = Math.max(1, 65536 / g), tasks = (groups + perTask - 1) / perTask;
        Parallel.forEach(tasks, t -> {
            for (int grp = t * perTask, last = Math.min(groups, grp + perTask); grp < last; grp++) {
                quantizeGroup(l, values, grp, seg, clip);
            }
        });
        return out;
    }

    /**
     * The storage bytes of {@code values} quantized on given scales (one per group, already representable in the
     * type's stored scale precision) for a symmetric type: how a model trained with these scales (quantization-aware
     * training) is written without choosing them again.
     */
    public static byte[] quantize(float[] values, int[] shape, DType type, float[] scales) {
        QuantLayout l = QuantLayout.of(type, shape);
        if (type.zeroPoint) throw new IllegalArgumentException(type.formatName() + " stores zero points; given scales need a symmetric type");
        if (values.length != l.rows() * l.k() || scales.length != l.groups()) {
            throw new IllegalArgumentException(values.length + " values and " + scales.length + " scales for " + type.formatName() + " of shape "
                    + java.util.Arrays.toString(shape));
        }
        byte[] out = new byte[(int) l.totalBytes()];
        MemorySegment seg = MemorySegment.ofArray(out);
        int g = l.groupLength(), zero = l.implicitZero();
        int[] codes = new int[g];
        for (int grp = 0; grp < scales.length; grp++) {
            for (int k = 0; k < g; k++) codes[k] = code(type, values[grp * g + k], scales[grp], zero);
            writeGroup(l, codes, 0, grp, new Group(scales[grp], zero), seg);
        }
        return out;
    }

    private static void quantizeGroup(QuantLayout l, float[] v, long group, MemorySegment out, Clip clip) {
        int g = l.groupLength(), off = (int) (group * g);
        Group p = chooseGroup(l, v, off, clip);
        writeGroup(l, v, off, group, p.scale, p.zero, out);
    }

    /** One group's scale and zero point (value = (code − zero) · scale). */
    record Group(float scale, int zero) {
        float value(int code) {
            return (code - zero) * scale;
        }
    }

    /** The scale and zero point for the group of values v[off, off + group length), as {@code clip} chooses them. */
    static Group chooseGroup(QuantLayout l, float[] v, int off, Clip clip) {
        int g = l.groupLength();
        DType t = l.type();
        float lo = 0, hi = 0;
        for (int k = 0; k < g; k++) {
            float x = v[off + k];
            if (!Float.isFinite(x)) throw new IllegalArgumentException("cannot quantize a non-finite value (" + x + ") at element " + (off + k));
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
        }
        float bestScale = 0;
        int bestZero = 0;
        double bestErr = Double.POSITIVE_INFINITY;
        for (int r = 0; r < (clip == Clip.MSE ? RATIOS : 1); r++) {
            float ratio = 1f - 0.02f * r;
            float scale;
            int zero;
            if (t.zeroPoint) {
                scale = storedScale(l, (hi - lo) * ratio / 15f, (hi - lo) * ratio, 15);
                zero = scale == 0 ? 0 : (int) Math.max(0, Math.min(15, Math.rint(-lo * ratio / scale)));
            } else {
                int qmax = t.bits == 8 ? 127 : 7;
                float absmax = Math.max(-lo, hi) * ratio;
                scale = storedScale(l, absmax / qmax, absmax, qmax);
                zero = l.implicitZero();
            }
            if (clip == Clip.ABSMAX) {
                bestScale = scale;
                bestZero = zero;
                break;
            }
            double err = 0;
            for (int k = 0; k < g; k++) {
                double e = v[off + k] - (code(t, v[off + k], scale, zero) - zero) * scale;
                err += e * e;
            }
            if (err < bestErr) {
                bestErr = err;
                bestScale = scale;
                bestZero = zero;
            }
        }
        return new Group(bestScale, bestZero);
    }

    /**
     * The scale as it will be stored (f32 for per-channel, f16 for groups), never below {@code s}, and large enough
     * that range / scale ≤ steps in float arithmetic (so the extreme values are not clamped).
     */
    private static float storedScale(QuantLayout l, float s, float range, int steps) {
        if (s == 0) return 0;
        float stored;
        if (l.scaleBytes() == 4) {
            stored = s;
        } else {
            short h = Float.floatToFloat16(s);
            if (Float.float16ToFloat(h) < s) h++; // positive f16 values order like their bit patterns
            stored = Float.float16ToFloat(h);
            if (Float.isInfinite(stored)) throw new IllegalArgumentException("scale " + s + " does not fit in f16");
        }
        while (range / stored > steps) {
            stored = l.scaleBytes() == 4 ? Math.nextUp(stored) : Float.float16ToFloat((short) (Float.floatToFloat16(stored) + 1));
        }
        return stored;
    }

    /** The stored code (zero point included) of x: the runtime's grid, which fake quantization must reproduce exactly. */
    public static int code(DType t, float x, float scale, int zero) {
        if (scale == 0) return zero;
        int q = (int) Math.rint(x / scale) + zero;
        if (t.zeroPoint) return Math.max(0, Math.min(15, q));
        int qmax = t.bits == 8 ? 127 : 7;
        return Math.max(zero - qmax, Math.min(zero + qmax, q));
    }

    private static void writeGroup(QuantLayout l, float[] v, int off, long group, float scale, int zero, MemorySegment out) {
        DType t = l.type();
        int g = l.groupLength();
        int[] codes = new int[g];
        for (int k = 0; k < g; k++) codes[k] = code(t, v[off + k], scale, zero);
        writeGroup(l, codes, 0, group, new Group(scale, zero), out);
    }

    /** Group {@code group}'s stored codes (codes[from, from + group length)), scale and zero point into {@code out}. */
    static void writeGroup(QuantLayout l, int[] codes, int from, long group, Group p, MemorySegment out) {
        DType t = l.type();
        int g = l.groupLength();
        long off = group * g;
        float scale = p.scale;
        int zero = p.zero;
        if (t.bits == 8) {
            for (int k = 0; k < g; k++) out.set(ValueLayout.JAVA_BYTE, off + k, (byte) codes[from + k]);
        } else {
            int half = g / 2;
            long at = group * half;
            for (int k = 0; k < half; k++) {
                out.set(ValueLayout.JAVA_BYTE, at + k, (byte) (codes[from + k] | codes[from + half + k] << 4));
            }
        }
        if (l.scaleBytes() == 4) out.set(F32, l.scalesOffset() + group * 4, scale);
        else out.set(I16, l.scalesOffset() + group * 2, Float.floatToFloat16(scale));
        if (t.zeroPoint) out.set(ValueLayout.JAVA_BYTE, l.zerosOffset() + group, (byte) zero);
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
}
