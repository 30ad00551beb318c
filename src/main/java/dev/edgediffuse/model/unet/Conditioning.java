package dev.edgediffuse.model.unet;

/**
 * What every block of one UNet call sees besides the feature map.
 *
 * @param siluTemb      SiLU of the time embedding, [batch][timeDim] (each ResNet projects it)
 * @param context       text encoder states, [batch][contextTokens][crossAttentionDim]
 * @param contextTokens tokens per batch item in {@code context}
 * @param tokenMerge    token merging in the transformer blocks, or null
 * @param latentHeight  the call's latent height, from which a block knows how far it is downsampled
 */
record Conditioning(float[] siluTemb, float[] context, int contextTokens, TokenMerge tokenMerge, int latentHeight) {}
