package dev.edgediffuse.qat;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Int8Activations;

/**
 * Fake 8-bit quantization of a layer's input, per tensor and asymmetric over a trainable range [lo, hi], computed
 * by the runtime's own {@link Int8Activations#quantized} (the range widened to include 0, as the ranges file must)
 * so that the exported ranges reproduce it. Gradients are those of the formula with both roundings straight-through
 * (LSQ for an asymmetric range): x passes inside the range; a clamped input's gradient goes to the range. The
 * range's gradients take LSQ's 1/√(n · 255).
 */
public final class ActivationQuantizer {
    private final float[] range;

    /** A quantizer over {@code range} = {lo, hi} (the array is used, not copied). */
    public ActivationQuantizer(float[] range) {
        if (range.length != 2) throw new IllegalArgumentException("an activation range is {lo, hi}");
        this.range = range;
    }

    public float[] range() {
        return range;
    }

    /** The range as the runtime reads it: min ≤ 0 ≤ max. */
    public ActivationRanges.Range used() {
        return new ActivationRanges.Range(Math.min(range[0], 0f), Math.max(range[1], 0f));
    }

    /** x[from, from + count) fake-quantized, as a fresh array; recorded for x's and the range's gradients. */
    public float[] forward(float[] x, int from, int count) {
        ActivationRanges.Range r = used();
        float[] out = Int8Activations.quantized(x, from, count, r);
        Tape.record(out, (t, dy) -> backward(t, x, from, count, r, dy), x, range);
        return out;
    }

    /**
     * The straight-through gradients of out = (clamp(round(x/s) + z, 0, 255) − z)·s, z = round(−lo/s),
     * s = (hi − lo)/255: inside the clamp d out = dx + (round(x/s) − x/s)·ds; clamped to code c,
     * d out = d lo + (c − z − lo/s)·ds (the output is −z·s or (255 − z)·s, and z follows lo).
     */
    private void backward(Tape t, float[] x, int from, int count, ActivationRanges.Range r, float[] dy) {
        float scale = (r.max() - r.min()) / 255f;
        boolean dX = t.needs(x), dR = t.needs(range);
        float[] dx = dX ? new float[x.length] : null;
        if (scale == 0) {
            if (dX) t.accumulateFresh(x, dx);
            return;
        }
        int zero = Math.round(-r.min() / scale);
        double dScale = 0, dLo = 0, loSteps = r.min() / (double) scale;
        for (int i = 0; i < count; i++) {
            float v = x[from + i] / scale;
            int q = Math.round(v) + zero;
            if (q < 0 || q > 255) {
                dLo += dy[i];
                dScale += (Math.max(0, Math.min(255, q)) - zero - loSteps) * dy[i];
            } else {
                if (dX) dx[from + i] = dy[i];
                dScale += (Math.round(v) - (double) v) * dy[i];
            }
        }
        if (dX) t.accumulateFresh(x, dx);
        if (dR) {
            // s = (hi − lo)/255; LSQ's scale on the range's gradient; a bound held at 0 by the widening takes none
            double g = 1 / Math.sqrt(count * 255.0), lo = (dLo - dScale / 255) * g, hi = dScale / 255 * g;
            t.accumulateFresh(range, new float[]{range[0] < 0 ? (float) lo : 0f, range[1] > 0 ? (float) hi : 0f});
        }
    }
}
