package dev.edgediffuse.compress;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The calibration's layer policy: every linear and convolution layer is built as usual and wrapped in an observer
 * that feeds its inputs to that layer's {@link InputStatistics} before computing its output unchanged. A
 * convolution's fused prologue (group norm, upsampling) is run on its own first, so the observer sees what the
 * convolution reads.
 */
final class CalibrationObserver implements LayerPolicy {
    private final int hessianBlock;
    private final Map<String, InputStatistics> layers = new LinkedHashMap<>();

    CalibrationObserver(int hessianBlock) {
        this.hessianBlock = hessianBlock;
    }

    /** Per layer path, in model order. */
    Map<String, InputStatistics> layers() {
        return layers;
    }

    @Override
    public Linear linear(Weights w, LinearSpec spec) {
        Linear base = LayerPolicy.super.linear(w, spec);
        InputStatistics s = InputStatistics.linear(spec.path(), spec.in(), hessianBlock);
        layers.put(spec.path(), s);
        return new Linear() {
            @Override
            public int in() {
                return base.in();
            }

            @Override
            public int out() {
                return base.out();
            }

            @Override
            public float[] forward(float[] x, int rows) {
                s.observeRows(x, 0, rows);
                return base.forward(x, rows);
            }

            @Override
            public float[] forwardRows(float[] x, int firstRow, int rows) {
                s.observeRows(x, firstRow, rows);
                return base.forwardRows(x, firstRow, rows);
            }
        };
    }

    @Override
    public Conv conv(Weights w, ConvSpec spec) {
        Conv base = LayerPolicy.super.conv(w, spec);
        InputStatistics s = InputStatistics.conv(spec.path(), spec.in(), spec.kernel(), spec.stride(), spec.pads(), hessianBlock);
        layers.put(spec.path(), s);
        return new ConvWrapper(base) {
            @Override
            public FeatureMap forward(FeatureMap x) {
                s.observeMap(x);
                return base.forward(x);
            }
        };
    }

    /**
     * A convolution that delegates its shape and runs the fused prologues unfused through {@link #forward(FeatureMap)},
     * so a subclass sees every input the convolution reads.
     */
    abstract static class ConvWrapper implements Conv {
        final Conv base;

        ConvWrapper(Conv base) {
            this.base = base;
        }

        @Override
        public int in() {
            return base.in();
        }

        @Override
        public int out() {
            return base.out();
        }

        @Override
        public int kernel() {
            return base.kernel();
        }

        @Override
        public int stride() {
            return base.stride();
        }

        @Override
        public int[] pads() {
            return base.pads();
        }

        @Override
        public FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
            return forward(norm.forward(x, silu));
        }

        @Override
        public FeatureMap forwardUpsampled(FeatureMap x) {
            return forward(Ops.upsample2x(x));
        }
    }
}
