package dev.edgediffuse.model.unet;

import dev.edgediffuse.tensor.FeatureMap;

/**
 * The up path's position during one call, counted in the skip connections a full call would still hold, and what
 * happens at a {@link FeatureCache}'s cut: a full call stores the feature entering the layer that consumes the
 * cut's skip connection; a cached call skips every layer before it and starts there from the stored feature.
 */
final class UpPath {
    private final FeatureCache cache;
    private final boolean reuse;
    private final int batch;
    private int remaining;

    UpPath(int totalSkips, FeatureCache cache, boolean reuse, int batch) {
        this.remaining = totalSkips;
        this.cache = cache;
        this.reuse = reuse;
        this.batch = batch;
    }

    /** Whether the next layer lies in the deep part a cached call leaves out (its skip count is passed either way). */
    boolean skipsLayer() {
        if (reuse && remaining > cache.shallowSkips()) {
            remaining--;
            return true;
        }
        return false;
    }

    /** The input of the next layer that runs: the stored feature where a cached call starts; stored by a full call. */
    FeatureMap atLayer(FeatureMap x) {
        if (cache != null && remaining == cache.shallowSkips()) {
            if (reuse) x = cache.feature(batch);
            else cache.store(x);
        }
        remaining--;
        return x;
    }

    /** Whether the up path has not reached the cut yet (a cached call leaves out what lies before it). */
    boolean beforeCut() {
        return reuse && remaining >= cache.shallowSkips();
    }
}
