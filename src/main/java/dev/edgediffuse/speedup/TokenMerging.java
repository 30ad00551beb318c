package dev.edgediffuse.speedup;

import dev.edgediffuse.model.unet.TokenMerge;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Token merging for one UNet call (tomesd's patch as a per-call hook): in every transformer block at most
 * {@link TokenMergeSettings#maxDownsample} below the latents' resolution, r = int(N · ratio) of its N tokens are
 * merged (capped at the source count) by {@link BipartiteSoftMatching}. Random destinations come from a seed per UNet
 * row and the block's position in the call: a session's unconditional and conditional rows share the seed and so the
 * partition (tomesd draws one partition for the whole batch, which its guided halves share), while each session
 * draws its own, so a session's output does not depend on what it is batched with.
 */
public final class TokenMerging implements TokenMerge {
    private final TokenMergeSettings settings;
    private final long[] rowSeeds;
    private int blocks;

    /** @param rowSeeds one per UNet row ({@link #rowSeed}); ignored with fixed (top-left) destinations */
    public TokenMerging(TokenMergeSettings settings, long[] rowSeeds) {
        this.settings = settings;
        this.rowSeeds = rowSeeds;
    }

    /** The partition seed of a request's rows at one denoising step. */
    public static long rowSeed(long requestSeed, int step) {
        return requestSeed * 0x9E3779B97F4A7C15L + step;
    }

    @Override
    public Merge plan(float[] x, int batch, int h, int w, int channels, int level) {
        int block = blocks++;
        if (level > settings.maxDownsample()) return null;
        int r = Math.min(settings.removed(h * w), BipartiteSoftMatching.sources(h, w));
        if (r < 1) return null;
        return BipartiteSoftMatching.plan(x, batch, h, w, channels, r, settings.randomPartition() ? destinations(batch, h, w, block) : null);
    }

    /** Each row's random destination per cell; rows with one seed get the same array. */
    private int[][] destinations(int batch, int h, int w, int block) {
        if (rowSeeds == null || rowSeeds.length != batch) {
            throw new IllegalStateException("token merging has " + (rowSeeds == null ? 0 : rowSeeds.length) + " row seeds for a batch of " + batch);
        }
        int cells = (h / BipartiteSoftMatching.STRIDE) * (w / BipartiteSoftMatching.STRIDE);
        Map<Long, int[]> bySeed = new HashMap<>();
        int[][] out = new int[batch][];
        for (int b = 0; b < batch; b++) {
            out[b] = bySeed.computeIfAbsent(rowSeeds[b], seed -> {
                SplittableRandom rng = new SplittableRandom(seed * 0xBF58476D1CE4E5B9L + block);
                int[] choice = new int[cells];
                for (int i = 0; i < cells; i++) choice[i] = rng.nextInt(BipartiteSoftMatching.CELL);
                return choice;
            });
        }
        return out;
    }

    @Override
    public boolean selfAttention() {
        return true;
    }

    @Override
    public boolean crossAttention() {
        return settings.crossAttention();
    }

    @Override
    public boolean feedForward() {
        return settings.feedForward();
    }
}
