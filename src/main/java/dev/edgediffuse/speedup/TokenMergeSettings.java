package dev.edgediffuse.speedup;

/**
 * Token merging as tomesd's {@code apply_patch} configures it: the share of tokens a transformer block removes,
 * the deepest blocks it applies to, which modules run on the merged tokens (self-attention always), and whether the
 * destination of each 2×2 cell is drawn at random (seeded per session and step) or is the cell's top-left token.
 *
 * @param ratio          tokens removed, r = int(N · ratio), in [0, 1); at most the 3 of 4 tokens that are sources
 * @param maxDownsample  blocks whose map is downsampled at most this much from the latents (1: full resolution only)
 * @param crossAttention also merge before cross-attention (tomesd: "not recommended")
 * @param feedForward    also merge before the feed-forward (tomesd: "very not recommended")
 * @param randomPartition a seeded random destination per cell (tomesd's use_rand) rather than the top-left one
 */
public record TokenMergeSettings(double ratio, int maxDownsample, boolean crossAttention, boolean feedForward,
                                 boolean randomPartition) {
    /** tomesd's defaults at {@code ratio}: full-resolution blocks, self-attention only, random destinations. */
    public static TokenMergeSettings of(double ratio) {
        return new TokenMergeSettings(ratio, 1, false, false, true);
    }

    public TokenMergeSettings withMaxDownsample(int d) {
        return new TokenMergeSettings(ratio, d, crossAttention, feedForward, randomPartition);
    }

    public TokenMergeSettings withModules(boolean cross, boolean ff) {
        return new TokenMergeSettings(ratio, maxDownsample, cross, ff, randomPartition);
    }

    public TokenMergeSettings withRandomPartition(boolean random) {
        return new TokenMergeSettings(ratio, maxDownsample, crossAttention, feedForward, random);
    }

    /** Checks the values; the message names the option. */
    public void validate() {
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("--tome must be a ratio in [0, 1), got " + ratio);
        if (maxDownsample < 1 || Integer.bitCount(maxDownsample) != 1) {
            throw new IllegalArgumentException("--tome-max-downsample must be 1, 2, 4 or 8, got " + maxDownsample);
        }
    }

    /** Tokens one block of {@code tokens} tokens removes, before the cap at its source count. */
    int removed(int tokens) {
        return (int) (tokens * ratio);
    }

    /** The A1111-style "parameters" entries: the ratio, then whatever differs from tomesd's defaults. */
    String parametersText() {
        StringBuilder b = new StringBuilder("Token merging ratio: ").append(ratio);
        if (maxDownsample != 1) b.append(", Token merging max downsample: ").append(maxDownsample);
        if (crossAttention) b.append(", Token merging cross-attention: true");
        if (feedForward) b.append(", Token merging feed-forward: true");
        if (!randomPartition) b.append(", Token merging partition: fixed");
        return b.toString();
    }
}
