package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.List;

/**
 * CrossAttnDownBlock2D (ResNet + transformer pairs) or DownBlock2D (ResNets only), then an optional stride-2
 * downsampler. Every layer's output is kept as a skip connection for the up path.
 */
final class DownBlock {
    private final ResnetBlock[] resnets;
    private final SpatialTransformer[] attentions;
    private final Downsample downsample;

    DownBlock(Weights w, int in, int out, int layers, BlockShape shape, boolean downsample, int downsamplePadding) {
        this.resnets = new ResnetBlock[layers];
        this.attentions = new SpatialTransformer[shape.hasAttention() ? layers : 0];
        for (int j = 0; j < layers; j++) {
            resnets[j] = new ResnetBlock(w.scope("resnets." + j), j == 0 ? in : out, out, shape);
            if (shape.hasAttention()) {
                attentions[j] = new SpatialTransformer(w.scope("attentions." + j), out, shape);
            }
        }
        this.downsample = downsample ? new Downsample(w.scope("downsamplers.0"), out, downsamplePadding) : null;
    }

    boolean downsamples() {
        return downsample != null;
    }

    /** Skip connections this block adds (one per layer, one for the downsampler). */
    int skipConnections() {
        return resnets.length + (downsample != null ? 1 : 0);
    }

    /** Runs the block's layers while fewer than {@code maxSkips} skip connections exist (all of them in a full call). */
    FeatureMap forward(FeatureMap x, Conditioning cond, List<FeatureMap> skips, int maxSkips) {
        for (int j = 0; j < resnets.length; j++) {
            if (skips.size() >= maxSkips) return x;
            // x is a skip connection already (kept for the up path); the resnet's output is not when attention follows
            x = resnets[j].forward(x, cond.siluTemb());
            if (attentions.length > 0) x = x.consumedBy(attentions[j].forward(x, cond));
            skips.add(x);
        }
        if (downsample != null && skips.size() < maxSkips) {
            x = downsample.forward(x);
            skips.add(x);
        }
        return x;
    }
}
