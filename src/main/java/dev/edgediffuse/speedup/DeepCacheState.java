package dev.edgediffuse.speedup;

import dev.edgediffuse.model.unet.FeatureCache;

/**
 * One session's DeepCache: its rows' stored deep feature and where its schedule stands. A step is full when
 * (step − start) % interval == 0, start being the last full step; a step is also full when nothing is stored yet
 * (a session's first step, or the first after a resume) or when the session's UNet rows changed since the feature
 * was stored (guidance starting at {@code cfgMaxTimestep} adds the unconditional row), which restarts the schedule.
 */
public final class DeepCacheState {
    private final DeepCacheSettings settings;
    private FeatureCache stored;
    private int storedRows, lastFull;

    public DeepCacheState(DeepCacheSettings settings) {
        this.settings = settings;
    }

    public int shallowSkips() {
        return settings.shallowSkips();
    }

    /** Whether the step reuses the stored feature (runs only the shallow path) rather than running the full UNet. */
    public boolean reuses(int step, int rows) {
        return stored != null && storedRows == rows && (step - lastFull) % settings.interval() != 0;
    }

    /** The feature to reuse: this session's rows of a cached call. */
    public FeatureCache stored() {
        if (stored == null) throw new IllegalStateException("no feature stored yet");
        return stored;
    }

    /** Records a full step's feature for this session's {@code rows} rows. */
    public void store(FeatureCache feature, int step, int rows) {
        this.stored = feature;
        this.storedRows = rows;
        this.lastFull = step;
    }
}
