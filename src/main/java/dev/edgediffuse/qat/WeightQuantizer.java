package dev.edgediffuse.qat;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;

import java.lang.foreign.MemorySegment;

/**
 * Fake quantization of one layer's weight on the runtime's own grid: per output channel (q8) or per group along K
 * (q4_32, ...), symmetric, value = code · scale with the code from {@link Quantizer#code} (round to nearest, clamped
 * to ±qmax) and the scale as the format stores it (f32 per channel, f16 per group), so writing the weight with the
 * same scales reproduces these values exactly. The scales are trainable (LSQ): the straight-through estimator passes
 * the weight's gradient inside the clamp range, and d value / d scale = code − w/scale there (±qmax where clamped),
 * times LSQ's 1/√(group · qmax) so the scales' gradients do not dominate the clipped gradient norm.
 */
public final class WeightQuantizer {
    /** The smallest scale used (a scale trained to zero or below would zero the group for good). */
    private static final float MIN_SCALE = 1e-6f;

    private final DType type;
    private final int[] shape;
    private final int group, qmax, zero;
    private final float[] scales;
    private final float gradScale;

    private WeightQuantizer(DType type, int[] shape, float[] scales) {
        QuantLayout l = QuantLayout.of(type, shape);
        if (type.zeroPoint) throw new IllegalArgumentException(type.formatName() + " stores zero points; fake quantization is symmetric");
        this.type = type;
        this.shape = shape.clone();
        this.group = l.groupLength();
        this.qmax = type.bits == 8 ? 127 : 7;
        this.zero = l.implicitZero();
        this.scales = scales;
        this.gradScale = (float) (1 / Math.sqrt((double) group * qmax));
    }

    /** The quantizer of weight {@code w} with the scales the runtime's quantizer would choose ({@code clip}). */
    public static WeightQuantizer init(float[] w, int[] shape, DType type, Quantizer.Clip clip) {
        QuantLayout l = QuantLayout.of(type, shape);
        MemorySegment q = MemorySegment.ofArray(Quantizer.quantize(w, shape, type, clip));
        float[] s = new float[(int) l.groups()];
        for (int g = 0; g < s.length; g++) s[g] = l.scale(q, g);
        return new WeightQuantizer(type, shape, s);
    }

    /** A quantizer over trained {@code scales} (one per group; the array is used, not copied). */
    public static WeightQuantizer of(DType type, int[] shape, float[] scales) {
        WeightQuantizer q = new WeightQuantizer(type, shape, scales);
        if (scales.length != q.groups()) throw new IllegalArgumentException(scales.length + " scales for " + q.groups() + " groups");
        return q;
    }

    public DType type() {
        return type;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int groups() {
        return (int) QuantLayout.of(type, shape).groups();
    }

    /** The trainable scales (the array itself). */
    public float[] scales() {
        return scales;
    }

    /** Scale {@code g} as the forward pass uses it and the file stores it. */
    public float usedScale(int g) {
        float s = Math.max(scales[g], MIN_SCALE);
        return QuantLayout.of(type, shape).scaleBytes() == 4 ? s : Float.float16ToFloat(Float.floatToFloat16(s));
    }

    public float[] usedScales() {
        float[] s = new float[scales.length];
        for (int g = 0; g < s.length; g++) s[g] = usedScale(g);
        return s;
    }

    /** The fake-quantized weight (a fresh array); recorded for the weight's and the scales' gradients while a tape records. */
    public float[] forward(float[] w) {
        float[] s = usedScales(), out = new float[w.length];
        for (int g = 0; g < s.length; g++) {
            for (int i = g * group, end = i + group; i < end; i++) out[i] = (Quantizer.code(type, w[i], s[g], zero) - zero) * s[g];
        }
        Tape.record(out, (t, dy) -> backward(t, w, s, dy), w, scales);
        return out;
    }

    private void backward(Tape t, float[] w, float[] s, float[] dy) {
        boolean dW = t.needs(w), dS = t.needs(scales);
        float[] dw = dW ? new float[w.length] : null, ds = dS ? new float[scales.length] : null;
        for (int g = 0; g < s.length; g++) {
            // below the minimum the scale is held, and takes no gradient
            boolean scaleFree = scales[g] > MIN_SCALE;
            double sum = 0;
            for (int i = g * group, end = i + group; i < end; i++) {
                float v = w[i] / s[g];
                if (v < -qmax) sum += -qmax * (double) dy[i];
                else if (v > qmax) sum += qmax * (double) dy[i];
                else {
                    if (dW) dw[i] = dy[i];
                    sum += (Math.rint(v) - v) * dy[i];
                }
            }
            if (dS && scaleFree) ds[g] = (float) (sum * gradScale);
        }
        if (dW) t.accumulateFresh(w, dw);
        if (dS) t.accumulateFresh(scales, ds);
    }
}
