package dev.edgediffuse.model.unet;

/**
 * Token merging in the transformer blocks (the hook tomesd patches in): before a module the block's tokens are
 * merged to fewer, after it the module's output is copied back to every token (the residual stream keeps them all).
 */
public interface TokenMerge {
    /**
     * The merge for one transformer block, or null to leave it as it is.
     *
     * @param x        the block's input tokens, [batch][h·w][channels] (similarity is measured on them)
     * @param level    how much this block's map is downsampled from the latents (1 at full resolution)
     */
    Merge plan(float[] x, int batch, int h, int w, int channels, int level);

    /** Whether merging applies to self-attention (tomesd's default), cross-attention and the feed-forward. */
    boolean selfAttention();

    boolean crossAttention();

    boolean feedForward();

    /** One block's merge: every image in the batch keeps {@link #tokens} tokens. */
    interface Merge {
        int tokens();

        /** [batch][h·w][c] → [batch][tokens][c], a new array the caller owns (and may hand to {@code Buffers}). */
        float[] merge(float[] x, int channels);

        /** [batch][tokens][c] → [batch][h·w][c], a new array: each merged token's value goes to all the tokens it stands for. */
        float[] unmerge(float[] y, int channels);
    }
}
