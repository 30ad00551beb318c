package dev.edgediffuse.distill;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.prune.BlockRemoval;
import dev.edgediffuse.prune.PrunePlan;
import dev.edgediffuse.prune.SignificancePruning;
import dev.edgediffuse.train.Recipe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A distillation recipe (recipes/mini-small.json): the teacher (a folder, file or built-in name), the data
 * (Fashion-MNIST's idx folder, or a folder of images with .txt captions), how the student is pruned from the teacher
 * ({@code student}: {@code preset}, {@code target_macs} or {@code significance}, {@code keep}, {@code extended},
 * {@code prompts}, {@code steps}, {@code size}, {@code seed}, {@code magnitude}), the loss weights ({@code loss}:
 * {@code task}, {@code output}, {@code feature}; BK-SDM's 1, 1, 1 by default) and the training stage ({@code distill}:
 * the keys of a train recipe's stage). Unknown keys and values out of range are one-line errors.
 */
public record DistillRecipe(String name, String teacher, Path data, int images, long seed, int checkpointSeconds, String dtype,
                            PrunePlan student, DistillObjective.Weights loss, Recipe.Stage distill, SamplingDefaults samplingDefaults) {
    private static final Set<String> KEYS = Set.of("name", "teacher", "data", "images", "seed", "checkpoint_seconds", "dtype", "student",
            "loss", "distill", "sampling_defaults");
    private static final Set<String> STUDENT_KEYS = Set.of("preset", "significance", "target_macs", "keep", "extended", "prompts", "steps",
            "size", "seed", "magnitude");
    private static final Set<String> LOSS_KEYS = Set.of("task", "output", "feature");

    public static DistillRecipe read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read recipe " + file + ": " + e.getMessage());
        }
        String src = file.toString();
        Map<String, Object> r = Json.parseObject(text, src);
        Recipe.onlyKnownKeys(r, KEYS, src);
        String dtype = r.getOrDefault("dtype", "f16").toString();
        if (!dtype.equals("f16") && !dtype.equals("f32")) throw new ModelFormatException(src + ": \"dtype\" must be f16 or f32, got " + dtype);
        return new DistillRecipe(string(r, "name", src), string(r, "teacher", src), Path.of(string(r, "data", src)),
                (int) number(r, "images", 0.0, src), (long) number(r, "seed", null, src), (int) number(r, "checkpoint_seconds", 120.0, src), dtype,
                student(object(r, "student", src), src + " student"), loss(object(r, "loss", src), src + " loss"), Recipe.stage(r, "distill", src),
                Recipe.sampling(r, src));
    }

    /** The same recipe with other loss weights (the ablation without distillation: 1, 0, 0). */
    public DistillRecipe withLoss(DistillObjective.Weights w) {
        return new DistillRecipe(name, teacher, data, images, seed, checkpointSeconds, dtype, student, w, distill, samplingDefaults);
    }

    /** The same recipe with the distillation stage shortened (smoke tests, quick looks). */
    public DistillRecipe withSteps(long steps) {
        Recipe.Stage s = distill;
        Recipe.Stage shorter = new Recipe.Stage(steps, s.batch(), s.lr(), Math.min(s.warmup(), Math.max(1, steps / 10)), s.lrFloor(),
                s.weightDecay(), s.clipNorm(), s.ema(), s.klWeight(), s.captionDropout(), s.edgeWeight(), s.adversarialWeight(),
                s.featureMatchingWeight(), s.minSnrGamma(), s.inputPerturbation(), s.emaAlternatives());
        return new DistillRecipe(name, teacher, data, images, seed, checkpointSeconds, dtype, student, loss, shorter, samplingDefaults);
    }

    private static PrunePlan student(Map<String, Object> s, String where) {
        Recipe.onlyKnownKeys(s, STUDENT_KEYS, where);
        BlockRemoval.Preset preset = null;
        if (s.containsKey("preset")) {
            try {
                preset = BlockRemoval.Preset.parse(string(s, "preset", where));
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(where + ": " + e.getMessage());
            }
        }
        boolean significance = s.containsKey("target_macs") || Boolean.TRUE.equals(s.get("significance"));
        double target = number(s, "target_macs", 0.0, where);
        if (s.containsKey("target_macs") && !(target > 0 && target <= 1)) throw new ModelFormatException(where + ": target_macs must be in (0, 1], got " + target);
        double[] keep = SignificancePruning.HYBRID_SD_KEEP;
        if (s.containsKey("keep")) {
            if (!(s.get("keep") instanceof List<?> l) || l.isEmpty()) throw new ModelFormatException(where + ": \"keep\" must be an array of ratios");
            keep = new double[l.size()];
            for (int i = 0; i < keep.length; i++) {
                if (!(l.get(i) instanceof Number n) || !(n.doubleValue() > 0 && n.doubleValue() < 1)) {
                    throw new ModelFormatException(where + ": keep ratio " + l.get(i) + " is outside (0, 1)");
                }
                keep[i] = n.doubleValue();
            }
        }
        double magnitude = number(s, "magnitude", 0.0, where);
        if (s.containsKey("magnitude") && !(magnitude > 0 && magnitude < 1)) throw new ModelFormatException(where + ": magnitude must be in (0, 1), got " + magnitude);
        Object ext = s.getOrDefault("extended", false);
        if (!(ext instanceof Boolean extended)) throw new ModelFormatException(where + ": \"extended\" must be true or false");
        int prompts = (int) number(s, "prompts", 50.0, where), steps = (int) number(s, "steps", 25.0, where);
        if (significance && (prompts < 2 || steps < 1)) throw new ModelFormatException(where + ": prompts must be >= 2 and steps >= 1");
        PrunePlan plan = new PrunePlan(preset, significance ? new PrunePlan.Significance(target, keep, prompts, steps,
                (int) number(s, "size", 0.0, where), (long) number(s, "seed", 0.0, where), extended) : null, magnitude);
        if (plan.empty()) throw new ModelFormatException(where + ": says nothing to prune (give preset, target_macs or significance, magnitude)");
        return plan;
    }

    private static DistillObjective.Weights loss(Map<String, Object> l, String where) {
        Recipe.onlyKnownKeys(l, LOSS_KEYS, where);
        double task = number(l, "task", 1.0, where), output = number(l, "output", 1.0, where), feature = number(l, "feature", 1.0, where);
        if (task < 0 || output < 0 || feature < 0 || task + output + feature == 0) {
            throw new ModelFormatException(where + ": weights must be >= 0 and not all 0");
        }
        return new DistillObjective.Weights(task, output, feature);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Map<String, Object> r, String key, String src) {
        Object o = r.get(key);
        if (o == null && key.equals("loss")) return Map.of();
        if (!(o instanceof Map)) throw new ModelFormatException(src + ": \"" + key + "\" must be an object");
        return (Map<String, Object>) o;
    }

    private static String string(Map<String, Object> r, String key, String src) {
        if (!(r.get(key) instanceof String s)) throw new ModelFormatException(src + ": \"" + key + "\" must be a string");
        return s;
    }

    /** A number, or {@code fallback} when absent (null: required). */
    private static double number(Map<String, Object> r, String key, Double fallback, String src) {
        Object o = r.get(key);
        if (o == null && fallback != null) return fallback;
        if (!(o instanceof Number n)) throw new ModelFormatException(src + ": \"" + key + "\" must be a number");
        return n.doubleValue();
    }
}
