package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/** UNetMidBlock2DCrossAttn: ResNet → transformer → ResNet at the lowest resolution. */
final class MidBlock {
    private final ResnetBlock first, second;
    private final SpatialTransformer attention;

    MidBlock(Weights w, int channels, BlockShape shape) {
        this.first = new ResnetBlock(w.scope("resnets.0"), channels, channels, shape);
        this.attention = new SpatialTransformer(w.scope("attentions.0"), channels, shape);
        this.second = new ResnetBlock(w.scope("resnets.1"), channels, channels, shape);
    }

    FeatureMap forward(FeatureMap x, Conditioning cond) {
        // the incoming x is the last skip connection; what the mid block makes is read once
        x = first.forward(x, cond.siluTemb());
        x = x.consumedBy(attention.forward(x, cond));
        return x.consumedBy(second.forward(x, cond.siluTemb()));
    }
}
