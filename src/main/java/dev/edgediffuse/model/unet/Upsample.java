package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/** Doubles the resolution by nearest-neighbour repetition, then a 3×3 convolution (upsamplers.0.conv). */
final class Upsample {
    private final Conv conv;

    /** {@code out}: the channels it passes on (fewer than {@code in} when pruned). */
    Upsample(Weights w, int in, int out) {
        this.conv = Conv.of(w, "conv", in, out, 3, 1, 1);
    }

    FeatureMap forward(FeatureMap x) {
        return conv.forwardUpsampled(x);
    }
}
