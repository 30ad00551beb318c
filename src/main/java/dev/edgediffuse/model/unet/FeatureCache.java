package dev.edgediffuse.model.unet;

import dev.edgediffuse.tensor.FeatureMap;

import java.util.List;

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

    /** Rows [from, from + count) of the stored feature as a cache of their own (one session's rows of a batched call). */
    public FeatureCache rows(int from, int count) {
        if (deep == null) throw new IllegalStateException("the feature cache holds nothing yet");
        if (from < 0 || count < 1 || from + count > deep.batch()) {
            throw new IllegalArgumentException("rows " + from + ".." + (from + count) + " of a cached feature of " + deep.batch());
        }
        int per = deep.data().length / deep.batch();
        FeatureCache c = new FeatureCache(shallowSkips);
        c.deep = new FeatureMap(java.util.Arrays.copyOfRange(deep.data(), from * per, (from + count) * per), count,
                deep.height(), deep.width(), deep.channels());
        return c;
    }

    /** One cache holding the parts' stored rows in order (sessions batched into one cached call); one cut for all. */
    public static FeatureCache concat(List<FeatureCache> parts) {
        FeatureCache first = parts.getFirst();
        int rows = 0, length = 0;
        for (FeatureCache p : parts) {
            if (!p.ready()) throw new IllegalStateException("a feature cache to join holds nothing yet");
            if (p.shallowSkips != first.shallowSkips || p.deep.pixels() != first.deep.pixels()
                    || p.deep.channels() != first.deep.channels()) {
                throw new IllegalArgumentException("feature caches with different cuts or shapes cannot serve one call");
            }
            rows += p.deep.batch();
            length += p.deep.data().length;
        }
        float[] all = new float[length];
        int at = 0;
        for (FeatureCache p : parts) {
            System.arraycopy(p.deep.data(), 0, all, at, p.deep.data().length);
            at += p.deep.data().length;
        }
        FeatureCache c = new FeatureCache(first.shallowSkips);
        c.deep = new FeatureMap(all, rows, first.deep.height(), first.deep.width(), first.deep.channels());
        return c;
    }

    /** Drops the stored feature (the next call must be a full one). */
    public void clear() {
        deep = null;
    }
}
