package dev.edgediffuse.distill;

import dev.edgediffuse.format.Config;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * BK-SDM's feature-distillation points, student block output → teacher block output, paired by the student's
 * initialization: every down stage's output (after its downsampler) and every up stage's output (after its
 * upsampler). A student with fewer stages (tiny) maps its up stage k to the teacher's k + 1, and its new last down
 * stage, which lost its downsampler, to the teacher stage's output before the downsampler (BK-SDM pairs the same
 * point: the stage's last attention's proj_out). An up stage whose upsampler was narrowed by pruning passes on fewer
 * channels than the teacher's, so it is paired where both are whole: before the upsampler.
 */
public final class FeaturePairs {
    private FeaturePairs() {}

    public static Map<String, String> of(Config student, Config teacher) {
        int s = student.getInts("block_out_channels").length, t = teacher.getInts("block_out_channels").length;
        if (s > t || s < t - 1) {
            throw new IllegalArgumentException(student.source() + ": a student of " + s + " stages has no pairing with a teacher of " + t
                    + " (same count, or one stage fewer)");
        }
        Map<String, String> pairs = new LinkedHashMap<>();
        for (int i = 0; i < s; i++) {
            boolean lostDownsampler = i == s - 1 && s < t;
            pairs.put("down_blocks." + i, "down_blocks." + i + (lostDownsampler ? ".before_downsampler" : ""));
        }
        Object widths = student.values().get("pruned_widths");
        for (int i = 0; i < s; i++) {
            boolean narrowed = widths instanceof Map<?, ?> m && m.containsKey("up_blocks." + i + ".upsamplers.0");
            String suffix = narrowed ? ".before_upsampler" : "";
            pairs.put("up_blocks." + i + suffix, "up_blocks." + (i + t - s) + suffix);
        }
        return pairs;
    }
}
