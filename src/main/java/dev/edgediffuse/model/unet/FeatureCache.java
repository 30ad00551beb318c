package dev.edgediffuse.model.unet;

import dev.edgediffuse.tensor.FeatureMap;

/**
 * DeepCache's reusable deep feature (Ma et al. 2023): the UNet's skip connections split it at a cut into a shallow
 * path (convolution in, the down layers that produce the first {@code shallowSkips} skip connections, and the up
 * layers that consume them) and the deep part between. A full call stores the feature entering the up path at the
 * cut; a cached call runs only the shallow path and continues the up path from the stored feature. One cache serves
 * one batch of rows (the same rows in the same order on every call).
 */
public final class FeatureCache {
    private final int shallowSkips;
    private FeatureMap deep;

    /** @param shallowSkips skip connections the shallow path computes (1 = conv_in's only); see {@link UNet2DConditionModel#skipConnections} */
    public FeatureCache(int shallowSkips) {
        if (shallowSkips < 1) throw new IllegalArgumentException("the shallow path needs at least one skip connection, got " + shallowSkips);
        this.shallowSkips = shallowSkips;
    }

    public int shallowSkips() {
        return shallowSkips;
    }

    public boolean ready() {
        return deep != null;
    }

    void store(FeatureMap x) {
        deep = x.with(x.data().clone());
    }

    /** A copy of the stored feature (the up path consumes what it is given). */
    FeatureMap feature(int batch) {
        if (deep.batch() != batch) {
            throw new IllegalStateException("the cached feature has " + deep.batch() + " rows, this call " + batch);
        }
        return deep.with(deep.data().clone());
    }

    /** Drops the stored feature (the next call must be a full one). */
    public void clear() {
        deep = null;
    }
}
