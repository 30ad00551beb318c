package dev.edgediffuse.model.vae;

import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/** resnets.0 → attentions.0 (optional) → resnets.1, all at the deepest channel count. */
final class VaeMidBlock {
    private final VaeResnetBlock first, second;
    private final VaeAttention attention;

    VaeMidBlock(Weights w, int channels, int groups, boolean withAttention) {
        first = new VaeResnetBlock(w.scope("resnets.0"), channels, channels, groups);
        attention = withAttention ? new VaeAttention(w.scope("attentions.0"), channels, groups) : null;
        second = new VaeResnetBlock(w.scope("resnets.1"), channels, channels, groups);
    }

    FeatureMap forward(FeatureMap x) {
        x = first.forward(x);
        if (attention != null) x = attention.forward(x);
        return second.forward(x);
    }
}
