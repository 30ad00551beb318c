package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.List;
import java.util.function.Consumer;

/**
 * CrossAttnUpBlock2D or UpBlock2D: each layer concatenates the most recent skip connection after the stream's
 * channels, then runs a ResNet (and a transformer); an optional nearest-×2 upsampler follows.
 */
final class UpBlock {
    private final ResnetBlock[] resnets;
    private final SpatialTransformer[] attentions;
    private final Upsample upsample;
    private final int outgoing;

    /**
     * @param previous channels arriving from the block below
     * @param skipIn   channels of the skip taken by the last layer (the input channels of the matching down block)
     */
    UpBlock(Weights w, int previous, int skipIn, int out, int layers, BlockShape shape, boolean upsample) {
        int outgoing = upsample ? shape.widths().upsamplerOut(w.scope("upsamplers.0"), out, shape.groups()) : out;
        this.resnets = new ResnetBlock[layers];
        this.attentions = new SpatialTransformer[shape.hasAttention() ? layers : 0];
        for (int j = 0; j < layers; j++) {
            int skip = j == layers - 1 ? skipIn : out;
            int stream = j == 0 ? previous : out;
            resnets[j] = new ResnetBlock(w.scope("resnets." + j), stream + skip, out, shape);
            if (shape.hasAttention()) {
                attentions[j] = new SpatialTransformer(w.scope("attentions." + j), out, shape);
            }
        }
        this.upsample = upsample ? new Upsample(w.scope("upsamplers.0"), out, outgoing) : null;
        this.outgoing = upsample ? outgoing : out;
    }

    /** Channels this block passes to the next (its upsampler's output, fewer than its own when pruned). */
    int outgoing() {
        return outgoing;
    }

    /**
     * Consumes skips from the end of {@code skips}; {@code path} says where the cache's cut is and what to do there;
     * {@code beforeUpsampler} sees the layers' output when an upsampler follows.
     */
    FeatureMap forward(FeatureMap x, Conditioning cond, List<FeatureMap> skips, UpPath path, Consumer<FeatureMap> beforeUpsampler) {
        for (int j = 0; j < resnets.length; j++) {
            // in a full call this layer would pop skip connection number path.remaining - 1
            if (path.skipsLayer()) continue;
            x = path.atLayer(x);
            // every map here is read once: the incoming x, the skip (the same array as x where a UNet has no mid block)
            FeatureMap skip = skips.removeLast(), joined = Ops.concat(x, skip);
            if (skip.data() != x.data()) skip.consumedBy(joined);
            x = x.consumedBy(joined);
            x = x.consumedBy(resnets[j].forward(x, cond.siluTemb()));
            if (attentions.length > 0) x = x.consumedBy(attentions[j].forward(x, cond));
        }
        if (upsample == null || path.beforeCut()) return x;
        beforeUpsampler.accept(x);
        return x.consumedBy(upsample.forward(x));
    }
}
