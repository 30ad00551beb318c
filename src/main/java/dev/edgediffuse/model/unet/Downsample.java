package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/** Halves the resolution with a 3×3 stride-2 convolution (downsamplers.0.conv). */
final class Downsample {
    private final Conv conv;

    Downsample(Weights w, int channels, int padding) {
        this.conv = Conv.of(w, "conv", channels, channels, 3, 2, padding);
    }

    FeatureMap forward(FeatureMap x) {
        return conv.forward(x);
    }
}
