package dev.edgediffuse.qat;

import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.speedup.TokenMergeSettings;
import dev.edgediffuse.train.Recipe;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * A quantization-aware training recipe (recipes/mini-qat-w4a16.json): the float teacher (a folder, file or built-in
 * name; also the model quantized unless {@code model} names another of its architecture), the data, the weight
 * format ({@code weights}: a symmetric format the runtime runs — q8, q8_32, q4_32, q4_64), {@code activations}
 * (float, or int8: per-tensor inputs from {@code calibration}, a calibration file of the teacher; default the
 * {@code calibrate} command's file beside it), {@code train} (weights: weights and scales; scales: scales only),
 * {@code clip} (how the scales start: absmax or mse), the loss weights ({@code loss}: {@code task}, {@code output})
 * and the stage ({@code qat}: a train recipe stage's keys); {@code tome} (a ratio) and {@code tome_max_downsample}
 * train with token merging in the student's transformer blocks (tomesd's defaults otherwise), as the Intel recipe
 * does. Unknown keys and bad values are one-line errors.
 */
public record QatRecipe(String name, String teacher, String model, Path data, int images, long seed, int checkpointSeconds, String dtype,
                        DType weights, boolean int8Activations, Path calibration, boolean trainWeights, Quantizer.Clip clip,
                        double taskWeight, double outputWeight, Recipe.Stage stage, TokenMergeSettings tome) {
    private static final Set<String> KEYS = Set.of("name", "teacher", "model", "data", "images", "seed", "checkpoint_seconds", "dtype",
            "weights", "activations", "calibration", "train", "clip", "loss", "qat", "tome", "tome_max_downsample");
    private static final Set<DType> RUNNABLE = Set.of(DType.Q8, DType.Q8_32, DType.Q4_32, DType.Q4_64);

    public static QatRecipe read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read recipe " + file + ": " + e.getMessage());
        }
        String src = file.toString();
        Map<String, Object> r = Json.parseObject(text, src);
        Recipe.onlyKnownKeys(r, KEYS, src);
        String dtype = string(r, "dtype", "f16", src);
        if (!dtype.equals("f16") && !dtype.equals("f32")) throw new ModelFormatException(src + ": \"dtype\" must be f16 or f32, got " + dtype);
        String format = string(r, "weights", null, src);
        DType weights = FormatPlan.parseFormat(format);
        if (weights == null || !RUNNABLE.contains(weights)) {
            throw new ModelFormatException(src + ": \"weights\" must be a symmetric quantized format the runtime runs (q8, q8_32, q4_32, q4_64), got " + format);
        }
        String act = string(r, "activations", "float", src);
        if (!act.equals("float") && !act.equals("int8")) throw new ModelFormatException(src + ": \"activations\" must be float or int8, got " + act);
        String train = string(r, "train", "weights", src);
        if (!train.equals("weights") && !train.equals("scales")) {
            throw new ModelFormatException(src + ": \"train\" must be weights (weights and scales) or scales (scales only), got " + train);
        }
        Quantizer.Clip clip;
        try {
            clip = Quantizer.Clip.parse(string(r, "clip", "absmax", src));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(src + ": " + e.getMessage());
        }
        Object lossObj = r.getOrDefault("loss", Map.of());
        if (!(lossObj instanceof Map<?, ?> lm)) throw new ModelFormatException(src + ": \"loss\" must be an object");
        @SuppressWarnings("unchecked")
        Map<String, Object> loss = (Map<String, Object>) lm;
        Recipe.onlyKnownKeys(loss, Set.of("task", "output"), src + " loss");
        double task = number(loss, "task", 1.0, src + " loss"), output = number(loss, "output", 1.0, src + " loss");
        if (task < 0 || output < 0 || task + output == 0) throw new ModelFormatException(src + " loss: weights must be >= 0 and not both 0");
        TokenMergeSettings tome = null;
        if (r.containsKey("tome")) {
            double ratio = number(r, "tome", null, src);
            if (!(ratio > 0 && ratio < 1)) throw new ModelFormatException(src + ": \"tome\" must be a token-merging ratio in (0, 1), got " + ratio);
            double down = number(r, "tome_max_downsample", 1.0, src);
            if (down != Math.rint(down) || down < 1 || down > 8 || Integer.bitCount((int) down) != 1) {
                throw new ModelFormatException(src + ": \"tome_max_downsample\" must be 1, 2, 4 or 8, got " + down);
            }
            tome = TokenMergeSettings.of(ratio).withMaxDownsample((int) down);
        } else if (r.containsKey("tome_max_downsample")) {
            throw new ModelFormatException(src + ": \"tome_max_downsample\" needs \"tome\"");
        }
        String calib = string(r, "calibration", "", src);
        String model = string(r, "model", "", src);
        return new QatRecipe(string(r, "name", null, src), string(r, "teacher", null, src), model.isEmpty() ? null : model,
                Path.of(string(r, "data", null, src)), (int) number(r, "images", 0.0, src), (long) number(r, "seed", null, src),
                (int) number(r, "checkpoint_seconds", 120.0, src), dtype, weights, act.equals("int8"), calib.isEmpty() ? null : Path.of(calib),
                train.equals("weights"), clip, task, output, Recipe.stage(r, "qat", src), tome);
    }

    /** The same recipe with the stage shortened (smoke tests, quick looks). */
    public QatRecipe withSteps(long steps) {
        Recipe.Stage s = stage;
        Recipe.Stage shorter = new Recipe.Stage(steps, s.batch(), s.lr(), Math.min(s.warmup(), Math.max(1, steps / 10)), s.lrFloor(),
                s.weightDecay(), s.clipNorm(), s.ema(), s.klWeight(), s.captionDropout(), s.edgeWeight(), s.adversarialWeight(),
                s.featureMatchingWeight(), s.minSnrGamma(), s.inputPerturbation(), s.emaAlternatives());
        return new QatRecipe(name, teacher, model, data, images, seed, checkpointSeconds, dtype, weights, int8Activations, calibration,
                trainWeights, clip, taskWeight, outputWeight, shorter, tome);
    }

    /** W8A8, W4A16, ... as the tables name the format. */
    public String label() {
        return "W" + weights.bits + "A" + (int8Activations ? 8 : 16) + " (" + weights.formatName() + ")";
    }

    private static String string(Map<String, Object> r, String key, String fallback, String src) {
        Object o = r.get(key);
        if (o == null && fallback != null) return fallback;
        if (!(o instanceof String s)) throw new ModelFormatException(src + ": \"" + key + "\" must be a string");
        return s;
    }

    private static double number(Map<String, Object> r, String key, Double fallback, String src) {
        Object o = r.get(key);
        if (o == null && fallback != null) return fallback;
        if (!(o instanceof Number n)) throw new ModelFormatException(src + ": \"" + key + "\" must be a number");
        return n.doubleValue();
    }
}
