package dev.edgediffuse.workflow;

import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the report measures for every variant (a recipe's {@code report} object): {@code quality}
 * ({@code fashion-mnist}: prompt accuracy and FID with eval's classifier and test set, plus fidelity to the original on
 * {@code samples} images; {@code fidelity}: PSNR/SSIM of the grid's images against the original's only, for models
 * with no Fashion-MNIST judge), {@code samples}, {@code batch}, {@code data}, {@code size} (0: the model's own),
 * {@code prompts} and {@code seeds} of the side-by-side grid, and the timing: {@code warmup_seconds} of warm-up images
 * (default 3) and up to three timed images within {@code timed_seconds} (default 5; at least one).
 */
public record ReportSettings(String quality, int samples, int batch, Path data, int size, List<String> prompts, List<Long> seeds,
                             double warmupSeconds, double timedSeconds) {
    public static final List<String> GENERAL_PROMPTS = List.of("a lighthouse on a cliff at dusk, oil painting", "a red fox in the snow",
            "a bowl of ramen, studio photo", "an astronaut riding a horse");

    static ReportSettings parse(StageSpec s) {
        String quality = s.string("quality", "fashion-mnist");
        if (!quality.equals("fashion-mnist") && !quality.equals("fidelity")) {
            throw s.error("\"quality\" must be fashion-mnist or fidelity, got \"" + quality + "\"");
        }
        boolean fashion = quality.equals("fashion-mnist");
        int samples = s.integer("samples", fashion ? 1000 : 0, 0, 1_000_000);
        if (fashion && samples < 2) throw s.error("\"samples\" must be >= 2 for fashion-mnist quality (FID needs images)");
        int batch = s.integer("batch", 50, 1, 4096);
        Path data = Path.of(s.string("data", FashionMnist.DEFAULT_DIR.toString()));
        int size = s.integer("size", 0, 0, 2048);
        if (size % 8 != 0) throw s.error("\"size\" must be a multiple of 8, got " + size);
        List<String> defaults = new ArrayList<>();
        if (fashion) for (int c = 0; c < FashionMnist.CLASSES.length; c++) defaults.add(Captions.prompt(c));
        else defaults.addAll(GENERAL_PROMPTS);
        List<String> prompts = s.strings("prompts", defaults);
        if (prompts.isEmpty()) throw s.error("\"prompts\" must not be empty");
        List<Long> seeds = new ArrayList<>();
        for (double d : s.numbers("seeds", new double[]{0, 1})) {
            if (d != Math.rint(d) || d < 0) throw s.error("\"seeds\" must be integers >= 0, got " + d);
            seeds.add((long) d);
        }
        if (seeds.isEmpty()) throw s.error("\"seeds\" must not be empty");
        double warmup = s.number("warmup_seconds", 3.0, 0, 3600), timed = s.number("timed_seconds", 5.0, 0, 3600);
        return new ReportSettings(quality, samples, batch, data, size, prompts, seeds, warmup, timed);
    }

    public boolean fashion() {
        return quality.equals("fashion-mnist");
    }

    /** The settings a measurement depends on, for its cache key. */
    String key() {
        return dev.edgediffuse.format.Json.write(new TreeMap<>(Map.of("quality", quality, "samples", samples, "batch", batch,
                "data", data.toString(), "size", size, "prompts", prompts, "seeds", seeds, "warmup", warmupSeconds, "timed", timedSeconds)));
    }
}
