package dev.edgediffuse.speedup;

import java.util.ArrayList;
import java.util.List;

/**
 * The training-free speed-ups a request asks for: token merging in the transformer blocks and DeepCache's feature
 * reuse across steps; either may be null (off). They compose with each other, any weight format and batching.
 */
public record SpeedUps(TokenMergeSettings tokenMerge, DeepCacheSettings deepCache) {
    public static final SpeedUps NONE = new SpeedUps(null, null);

    public boolean none() {
        return tokenMerge == null && deepCache == null;
    }

    public SpeedUps withTokenMerge(TokenMergeSettings t) {
        return new SpeedUps(t, deepCache);
    }

    public SpeedUps withDeepCache(DeepCacheSettings d) {
        return new SpeedUps(tokenMerge, d);
    }

    /** Checks the settings against a request's steps and scheduler; messages name the option. */
    public void validate(int steps, String scheduler) {
        if (tokenMerge != null) tokenMerge.validate();
        if (deepCache != null) deepCache.validate(steps, scheduler);
    }

    /** Short, as the command line gives them: "tome 0.5 + deepcache 3,0" ("none" when none). */
    public String label() {
        List<String> parts = new ArrayList<>();
        if (tokenMerge != null) {
            parts.add("tome " + tokenMerge.ratio() + (tokenMerge.maxDownsample() != 1 ? " max-downsample " + tokenMerge.maxDownsample() : "")
                    + (tokenMerge.crossAttention() ? " +attn2" : "") + (tokenMerge.feedForward() ? " +ff" : "")
                    + (tokenMerge.randomPartition() ? "" : " fixed"));
        }
        if (deepCache != null) parts.add("deepcache " + deepCache.interval() + "," + deepCache.branch());
        return parts.isEmpty() ? "none" : String.join(" + ", parts);
    }

    /** ", Token merging ratio: 0.5, DeepCache interval: 3, ..." for the PNG's parameters text; "" when none. */
    public String parametersText() {
        StringBuilder b = new StringBuilder();
        if (tokenMerge != null && tokenMerge.ratio() > 0) b.append(", ").append(tokenMerge.parametersText());
        if (deepCache != null) b.append(", ").append(deepCache.parametersText());
        return b.toString();
    }
}
