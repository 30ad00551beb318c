package dev.edgediffuse.prune;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.kernels.Flops;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.util.HashMap;

/**
 * Multiply-accumulates of one UNet call (batch 1, one prompt of 77 tokens) at a latent size, counted by the kernels'
 * own counter ({@link Flops}) on a UNet of the config built on zero weights: the figure a pruning target is a share
 * of, and the one {@code bench} reports per step. Norms and activations are not counted (nor are they by Flops).
 */
public final class UNetMacs {
    private UNetMacs() {}

    /** At the config's own {@code sample_size} (the model's native latent size). */
    public static long of(Config unet) {
        return of(unet, unet.getInt("sample_size", 64));
    }

    public static long of(Config unet, int latentSize) {
        UNet2DConditionModel model = new UNet2DConditionModel(unet, Weights.recording("macs", new HashMap<>()));
        int tokens = ClipTokenizer.MAX_LENGTH;
        FeatureMap latents = new FeatureMap(new float[latentSize * latentSize * model.inChannels()], 1, latentSize, latentSize,
                model.inChannels());
        long before = Flops.macs();
        model.predict(latents, new float[]{500}, new float[tokens * model.crossAttentionDim()], tokens);
        return Flops.macs() - before;
    }
}
