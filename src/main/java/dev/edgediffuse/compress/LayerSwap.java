package dev.edgediffuse.compress;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.DenseConv;
import dev.edgediffuse.nn.DenseLinear;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A layer policy under which any one layer's weight can be swapped for another (a quantized copy) and back, in a
 * model built once: how {@link Sensitivity} quantizes one layer at a time without rebuilding the UNet.
 */
final class LayerSwap implements LayerPolicy {
    private final Map<String, Slot> slots = new LinkedHashMap<>();

    /** One layer: how to build it on other weights, and what runs now. */
    private static final class Slot {
        final Weights weights;
        final LinearSpec linear;
        final ConvSpec conv;
        Linear linearNow;
        Conv convNow;
        Object original;

        Slot(Weights weights, LinearSpec linear, ConvSpec conv) {
            this.weights = weights;
            this.linear = linear;
            this.conv = conv;
        }

        String name() {
            return linear != null ? linear.name() : conv.name();
        }

        boolean bias() {
            return linear != null ? linear.bias() : conv.bias();
        }

        int out() {
            return linear != null ? linear.out() : conv.out();
        }

        /** The layer built on {@code w} in place of its own weight (bias as it was). */
        void use(Weight w) {
            Map<String, Weight> one = new LinkedHashMap<>();
            one.put(name() + ".weight", w);
            if (bias()) one.put(name() + ".bias", weights.get(name() + ".bias", out()));
            Weights ws = new Weights(weights.source(), one);
            if (linear != null) linearNow = new DenseLinear(ws, linear.name(), linear.in(), linear.out(), linear.bias());
            else convNow = new DenseConv(ws, conv.name(), conv.in(), conv.out(), conv.kernel(), conv.stride(), conv.pads(), conv.bias());
        }

        void restore() {
            if (linear != null) linearNow = (Linear) original;
            else convNow = (Conv) original;
        }
    }

    /** Layer paths in model order. */
    Iterable<String> paths() {
        return slots.keySet();
    }

    /** Runs layer {@code path} on weight {@code w} until {@link #restore}. */
    void swap(String path, Weight w) {
        slots.get(path).use(w);
    }

    void restore(String path) {
        slots.get(path).restore();
    }

    @Override
    public Linear linear(Weights w, LinearSpec spec) {
        Slot s = new Slot(w, spec, null);
        s.linearNow = LayerPolicy.super.linear(w, spec);
        s.original = s.linearNow;
        slots.put(spec.path(), s);
        return new Linear() {
            @Override
            public int in() {
                return spec.in();
            }

            @Override
            public int out() {
                return spec.out();
            }

            @Override
            public float[] forward(float[] x, int rows) {
                return s.linearNow.forward(x, rows);
            }

            @Override
            public float[] forwardRows(float[] x, int firstRow, int rows) {
                return s.linearNow.forwardRows(x, firstRow, rows);
            }
        };
    }

    @Override
    public Conv conv(Weights w, ConvSpec spec) {
        Slot s = new Slot(w, null, spec);
        s.convNow = LayerPolicy.super.conv(w, spec);
        s.original = s.convNow;
        slots.put(spec.path(), s);
        return new CalibrationObserver.ConvWrapper(s.convNow) {
            @Override
            public FeatureMap forward(FeatureMap x) {
                return s.convNow.forward(x);
            }

            @Override
            public FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
                return s.convNow.forward(norm, silu, x);
            }

            @Override
            public FeatureMap forwardUpsampled(FeatureMap x) {
                return s.convNow.forwardUpsampled(x);
            }
        };
    }
}
