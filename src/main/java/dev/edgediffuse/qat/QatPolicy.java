package dev.edgediffuse.qat;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.DenseConv;
import dev.edgediffuse.nn.DenseLinear;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The layer policy of a UNet under quantization-aware training: each layer with a weight quantizer runs on its
 * fake-quantized weight (recomputed every call from the trainable weight and scales) and, with an activation
 * quantizer, on its fake-quantized input; the bias stays in float, as the runtime keeps it. Other layers are plain.
 * The layers the model built are recorded, so a quantizer no layer used is caught ({@link #unused}).
 */
public final class QatPolicy implements LayerPolicy {
    private final Map<String, WeightQuantizer> weights;
    private final Map<String, ActivationQuantizer> inputs;
    private final Set<String> built = new java.util.HashSet<>();

    /** Quantizers by layer path (e.g. {@code down_blocks.0.resnets.0.conv1}); inputs may be empty (weights only). */
    public QatPolicy(Map<String, WeightQuantizer> weights, Map<String, ActivationQuantizer> inputs) {
        this.weights = new HashMap<>(weights);
        this.inputs = new HashMap<>(inputs);
    }

    /** Quantizers no layer of the model built so far took (their weights live in layers outside the seam). */
    public Set<String> unused() {
        Set<String> s = new java.util.TreeSet<>(weights.keySet());
        s.removeAll(built);
        return s;
    }

    @Override
    public Linear linear(Weights w, LinearSpec spec) {
        WeightQuantizer q = weights.get(spec.path());
        if (q == null) return LayerPolicy.super.linear(w, spec);
        built.add(spec.path());
        float[] weight = values(w.getSqueezable(spec.name() + ".weight", spec.out(), spec.in()));
        float[] bias = spec.bias() ? w.floats(spec.name() + ".bias", spec.out()) : null;
        ActivationQuantizer aq = inputs.get(spec.path());
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
                float[] in = aq == null ? x : aq.forward(x, 0, rows * spec.in());
                Weights ws = layerWeights(w.source(), q.forward(weight), new int[]{spec.out(), spec.in()}, bias);
                return new DenseLinear(ws, "layer", spec.in(), spec.out(), bias != null).forward(in, rows);
            }

            @Override
            public float[] forwardRows(float[] x, int firstRow, int rows) {
                return forward(java.util.Arrays.copyOfRange(x, firstRow * spec.in(), (firstRow + rows) * spec.in()), rows);
            }
        };
    }

    @Override
    public Conv conv(Weights w, ConvSpec spec) {
        WeightQuantizer q = weights.get(spec.path());
        if (q == null) return LayerPolicy.super.conv(w, spec);
        built.add(spec.path());
        int[] shape = {spec.out(), spec.in(), spec.kernel(), spec.kernel()};
        float[] weight = values(w.get(spec.name() + ".weight", shape));
        float[] bias = spec.bias() ? w.floats(spec.name() + ".bias", spec.out()) : null;
        ActivationQuantizer aq = inputs.get(spec.path());
        return new Conv() {
            @Override
            public int in() {
                return spec.in();
            }

            @Override
            public int out() {
                return spec.out();
            }

            @Override
            public int kernel() {
                return spec.kernel();
            }

            @Override
            public int stride() {
                return spec.stride();
            }

            @Override
            public int[] pads() {
                return spec.pads().clone();
            }

            private Conv dense() {
                Weights ws = layerWeights(w.source(), q.forward(weight), shape, bias);
                return new DenseConv(ws, "layer", spec.in(), spec.out(), spec.kernel(), spec.stride(), spec.pads(), bias != null);
            }

            @Override
            public FeatureMap forward(FeatureMap x) {
                return dense().forward(aq == null ? x : x.with(aq.forward(x.data(), 0, x.data().length)));
            }

            // with an input quantizer, what is quantized is what the convolution reads: the normalized or upsampled map
            @Override
            public FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
                return aq != null ? forward(norm.forward(x, silu)) : dense().forward(norm, silu, x);
            }

            @Override
            public FeatureMap forwardUpsampled(FeatureMap x) {
                return aq != null ? forward(dev.edgediffuse.nn.Ops.upsample2x(x)) : dense().forwardUpsampled(x);
            }
        };
    }

    /** The trainable parameter's own array (a frozen weight: a copy, which then takes no gradient). */
    private static float[] values(Weight w) {
        float[] a = w.heapArray();
        return a != null ? a : w.toFloats();
    }

    /** One layer's weights: the fake-quantized weight and the float bias, under the name "layer". */
    private static Weights layerWeights(String source, float[] weight, int[] shape, float[] bias) {
        Map<String, Weight> m = new LinkedHashMap<>();
        m.put("layer.weight", new Weight("layer.weight", DType.F32, shape, MemorySegment.ofArray(weight)));
        if (bias != null) m.put("layer.bias", new Weight("layer.bias", DType.F32, new int[]{bias.length}, MemorySegment.ofArray(bias)));
        return new Weights(source, m);
    }
}
