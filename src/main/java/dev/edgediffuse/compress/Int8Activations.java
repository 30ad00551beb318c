package dev.edgediffuse.compress;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.Map;

/**
 * Simulated 8-bit activations (W8A8, W4A8 quality without an integer GEMM): a layer policy that fake-quantizes each
 * listed layer's input per tensor, asymmetric uint8 over its calibrated range — scale = (max − min) / 255, zero
 * point = round(−min / scale), x ↦ (clamp(round(x / scale) + zero, 0, 255) − zero) · scale — before the layer's own
 * GEMM. A convolution's fused prologue (norm, upsampling) runs first, so what is quantized is what it reads.
 */
public final class Int8Activations implements LayerPolicy {
    private final Map<String, ActivationRanges.Range> ranges;
    private final LayerPolicy base;

    public Int8Activations(Map<String, ActivationRanges.Range> ranges, LayerPolicy base) {
        this.ranges = Map.copyOf(ranges);
        this.base = base;
    }

    @Override
    public Linear linear(Weights w, LinearSpec spec) {
        Linear layer = base.linear(w, spec);
        ActivationRanges.Range r = ranges.get(spec.path());
        if (r == null) return layer;
        return new Linear() {
            @Override
            public int in() {
                return layer.in();
            }

            @Override
            public int out() {
                return layer.out();
            }

            @Override
            public float[] forward(float[] x, int rows) {
                return layer.forward(quantized(x, 0, rows * layer.in(), r), rows);
            }

            @Override
            public float[] forwardRows(float[] x, int firstRow, int rows) {
                return layer.forwardRows(quantized(x, firstRow * layer.in(), rows * layer.in(), r), 0, rows);
            }
        };
    }

    @Override
    public Conv conv(Weights w, ConvSpec spec) {
        Conv layer = base.conv(w, spec);
        ActivationRanges.Range r = ranges.get(spec.path());
        if (r == null) return layer;
        return new CalibrationObserver.ConvWrapper(layer) {
            @Override
            public FeatureMap forward(FeatureMap x) {
                return layer.forward(x.with(quantized(x.data(), 0, x.data().length, r)));
            }
        };
    }

    /** x[from, from + count) fake-quantized to the range, as a new array. */
    public static float[] quantized(float[] x, int from, int count, ActivationRanges.Range r) {
        float[] out = new float[count];
        float scale = (r.max() - r.min()) / 255f;
        if (scale == 0) return out;
        int zero = Math.round(-r.min() / scale);
        for (int i = 0; i < count; i++) {
            int q = Math.round(x[from + i] / scale) + zero;
            out[i] = (Math.max(0, Math.min(255, q)) - zero) * scale;
        }
        return out;
    }
}
