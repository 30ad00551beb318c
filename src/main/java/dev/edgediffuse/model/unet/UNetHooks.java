package dev.edgediffuse.model.unet;

/**
 * Per-call options of one UNet forward pass; the model keeps no state between calls, so concurrent and batched
 * callers can each bring their own.
 *
 * @param timestepCond [batch][time_cond_proj_dim] added to the timestep features through {@code cond_proj} (LCM's
 *                     guidance-scale embedding), or null
 * @param taps         block outputs to keep (feature distillation, inspection), or null
 * @param cache        DeepCache-style feature reuse, or null
 * @param reuseCache   whether this call reuses {@code cache}'s feature (runs only the shallow path) or stores it
 * @param tokenMerge   token merging in the transformer blocks, or null
 */
public record UNetHooks(float[] timestepCond, FeatureTaps taps, FeatureCache cache, boolean reuseCache, TokenMerge tokenMerge) {
    public static final UNetHooks NONE = new UNetHooks(null, null, null, false, null);

    public UNetHooks withTimestepCond(float[] cond) {
        return new UNetHooks(cond, taps, cache, reuseCache, tokenMerge);
    }

    public UNetHooks withTaps(FeatureTaps t) {
        return new UNetHooks(timestepCond, t, cache, reuseCache, tokenMerge);
    }

    /** A full call that stores the feature at the cache's cut ({@code reuse} false), or a shallow one that reuses it. */
    public UNetHooks withCache(FeatureCache c, boolean reuse) {
        if (reuse && !c.ready()) throw new IllegalStateException("the feature cache holds nothing to reuse yet");
        return new UNetHooks(timestepCond, taps, c, reuse, tokenMerge);
    }

    public UNetHooks withTokenMerge(TokenMerge m) {
        return new UNetHooks(timestepCond, taps, cache, reuseCache, m);
    }
}
