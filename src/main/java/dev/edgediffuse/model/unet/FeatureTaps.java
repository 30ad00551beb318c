package dev.edgediffuse.model.unet;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Named block outputs kept during one UNet call: {@code conv_in}, {@code down_blocks.i} (after the downsampler),
 * {@code down_blocks.i.before_downsampler} (a stage with a downsampler: its last layer's output), {@code mid_block},
 * {@code up_blocks.i} (after the upsampler), {@code up_blocks.i.before_upsampler} — BK-SDM's feature-distillation
 * points, and where a student whose stage lost (or narrowed) its sampler meets its teacher. While a tape
 * records, the kept maps are the recorded values themselves (a loss on them reaches the weights); otherwise copies,
 * since the UNet reuses its arrays.
 */
public final class FeatureTaps {
    private final Set<String> wanted;
    private final Map<String, FeatureMap> kept = new LinkedHashMap<>();

    private FeatureTaps(Set<String> wanted) {
        this.wanted = wanted;
    }

    public static FeatureTaps of(List<String> names) {
        return new FeatureTaps(Set.copyOf(names));
    }

    void offer(String name, FeatureMap x) {
        if (!wanted.contains(name)) return;
        kept.put(name, Tape.recording() ? x : x.with(x.data().clone()));
    }

    /** The kept output of {@code name}, or null when that block did not run (a shallow cached call). */
    public FeatureMap get(String name) {
        return kept.get(name);
    }

    public Map<String, FeatureMap> all() {
        return Collections.unmodifiableMap(kept);
    }
}
