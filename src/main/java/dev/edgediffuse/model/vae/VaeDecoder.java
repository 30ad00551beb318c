package dev.edgediffuse.model.vae;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * AutoencoderKL's decoder: conv_in to the deepest channel count, the mid block, then up_blocks.{i} walking
 * block_out_channels in reverse (layers_per_block+1 resnets each, then nearest 2× upsampling and a 3×3 conv except
 * after the last), norm+SiLU and conv_out to the image channels.
 */
final class VaeDecoder {
    private final Conv convIn, convOut;
    private final VaeMidBlock mid;
    private final VaeResnetBlock[][] resnets;
    private final Conv[] upsamplers;
    private final GroupNorm normOut;

    VaeDecoder(Weights w, int latentChannels, int[] channels, int layers, int groups, int outChannels, boolean midAttention) {
        int n = channels.length, deepest = channels[n - 1];
        convIn = Conv.of(w, "conv_in", latentChannels, deepest, 3, 1, 1);
        mid = new VaeMidBlock(w.scope("mid_block"), deepest, groups, midAttention);
        resnets = new VaeResnetBlock[n][layers + 1];
        upsamplers = new Conv[n];
        int prev = deepest;
        for (int i = 0; i < n; i++) {
            int out = channels[n - 1 - i];
            Weights block = w.scope("up_blocks." + i);
            for (int j = 0; j <= layers; j++) {
                resnets[i][j] = new VaeResnetBlock(block.scope("resnets." + j), j == 0 ? prev : out, out, groups);
            }
            if (i < n - 1) upsamplers[i] = Conv.of(block, "upsamplers.0.conv", out, out, 3, 1, 1);
            prev = out;
        }
        normOut = new GroupNorm(w, "conv_norm_out", channels[0], groups, VaeResnetBlock.EPS);
        convOut = Conv.of(w, "conv_out", channels[0], outChannels, 3, 1, 1);
    }

    FeatureMap forward(FeatureMap z) {
        FeatureMap x = mid.forward(convIn.forward(z));
        for (int i = 0; i < resnets.length; i++) {
            for (VaeResnetBlock r : resnets[i]) x = r.forward(x);
            if (upsamplers[i] != null) x = upsamplers[i].forwardUpsampled(x);
        }
        return convOut.forward(normOut, true, x);
    }
}
