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

    default Linear linear(Weights w, LinearSpec spec) {
        return new DenseLinear(w, spec.name(), spec.in(), spec.out(), spec.bias());
    }

    default Conv conv(Weights w, ConvSpec spec) {
        return new DenseConv(w, spec.name(), spec.in(), spec.out(), spec.kernel(), spec.stride(), spec.pads(), spec.bias());
    }
}
