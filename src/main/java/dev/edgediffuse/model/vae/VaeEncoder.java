package dev.edgediffuse.model.vae;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * AutoencoderKL's encoder: conv_in, one down block per entry of block_out_channels (layers_per_block resnets, then
 * a stride-2 conv on a (0,1,0,1)-padded map except after the last), the mid block, norm+SiLU, conv_out to
 * 2·latent_channels (mean and log-variance).
 */
final class VaeEncoder {
    private final Conv convIn, convOut;
    private final VaeResnetBlock[][] resnets;
    private final Conv[] downsamplers;
    private final VaeMidBlock mid;
    private final GroupNorm normOut;

    VaeEncoder(Weights w, int inChannels, int[] channels, int layers, int groups, int outChannels, boolean midAttention) {
        convIn = Conv.of(w, "conv_in", inChannels, channels[0], 3, 1, 1);
        resnets = new VaeResnetBlock[channels.length][layers];
        downsamplers = new Conv[channels.length];
        int prev = channels[0];
        for (int i = 0; i < channels.length; i++) {
            Weights block = w.scope("down_blocks." + i);
            for (int j = 0; j < layers; j++) {
                resnets[i][j] = new VaeResnetBlock(block.scope("resnets." + j), j == 0 ? prev : channels[i], channels[i], groups);
            }
            if (i < channels.length - 1) {
                downsamplers[i] = Conv.of(block, "downsamplers.0.conv", channels[i], channels[i], 3, 2, new int[]{0, 1, 0, 1});
            }
            prev = channels[i];
        }
        int deepest = channels[channels.length - 1];
        mid = new VaeMidBlock(w.scope("mid_block"), deepest, groups, midAttention);
        normOut = new GroupNorm(w, "conv_norm_out", deepest, groups, VaeResnetBlock.EPS);
        convOut = Conv.of(w, "conv_out", deepest, outChannels, 3, 1, 1);
    }

    FeatureMap forward(FeatureMap x) {
        x = convIn.forward(x);
        for (int i = 0; i < resnets.length; i++) {
            for (VaeResnetBlock r : resnets[i]) x = r.forward(x);
            if (downsamplers[i] != null) x = downsamplers[i].forward(x);
        }
        x = mid.forward(x);
        return convOut.forward(normOut, true, x);
    }
}
