package dev.edgediffuse.nn;

/**
 * How a component's linear and convolution layers are built, by name: the seam through which compression passes
 * change layers (a LoRA or low-rank branch, fake quantization, input observers) without touching model classes.
 * A policy rides on the {@link Weights} a model is built from ({@link Weights#withPolicy}); the default builds every
 * layer plain. Policies usually decorate another: build the layer with {@code base}, then wrap it.
 */
public interface LayerPolicy {
    LayerPolicy DENSE = new LayerPolicy() {};

    /**
     * @param path the layer's full name within its component (e.g. {@code down_blocks.0.attentions.0.proj_in}), the
     *             name its tensors carry less the {@code .weight}/{@code .bias} suffix
     * @param name the same relative to the weights the layer is looked up in
     */
    record LinearSpec(String path, String name, int in, int out, boolean bias) {}

    record ConvSpec(String path, String name, int in, int out, int kernel, int stride, int[] pads, boolean bias) {}

    /**
     * The plain layer; where the weights hold a stored low-rank branch beside it ({@code <name>.lowrank_down.weight}
     * [r][in] and {@code <name>.lowrank_up.weight} [out][r], as {@code convert --lowrank} writes them), the layer
     * with that branch added: y = x·Wᵀ + b + x·downᵀ·upᵀ.
     */
    default Linear linear(Weights w, LinearSpec spec) {
        Linear base = new DenseLinear(w, spec.name(), spec.in(), spec.out(), spec.bias());
        String down = spec.name() + ".lowrank_down";
        if (!w.has(down + ".weight")) return base;
        int rank = w.shapeOf(down + ".weight")[0];
        return new LowRankLinear(base, new DenseLinear(w, down, spec.in(), rank, false),
                new DenseLinear(w, spec.name() + ".lowrank_up", rank, spec.out(), false), 1f);
    }

    default Conv conv(Weights w, ConvSpec spec) {
        return new DenseConv(w, spec.name(), spec.in(), spec.out(), spec.kernel(), spec.stride(), spec.pads(), spec.bias());
    }
}
