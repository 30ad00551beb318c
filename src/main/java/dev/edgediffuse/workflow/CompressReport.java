package dev.edgediffuse.workflow;

import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report of a compress run: the original and every stage that made a new model, measured alike
 * ({@link VariantMeasurer}), with the headline (× smaller, × faster, quality change of the final model), the Pareto
 * fronts of quality against size and against UNet time, and the commands that reproduce each figure. Written as
 * {@value #JSON} and as one self-contained {@value #HTML} ({@link HtmlReport}).
 */
public final class CompressReport {
    public static final String JSON = "compress-report.json", HTML = "compress-report.html";

    private CompressReport() {}

    /** Measures every variant of {@code result} and writes both files into {@code dir}; returns the JSON map. */
    public static Map<String, Object> write(CompressRecipe recipe, Workflow.Result result, String command, Path work, Path dir,
                                            PrintStream log) throws IOException {
        ReportSettings s = recipe.report();
        VariantMeasurer measurer = new VariantMeasurer(s, work, result.input(), result.inputKey(), log);
        List<Map<String, Object>> variants = new ArrayList<>();
        Map<String, Object> orig = measurer.measure("original", result.inputKey(), result.input(), null);
        orig.put("stage", "original");
        orig.put("key", result.inputKey());
        variants.add(orig);
        List<byte[]> originalGrid = measurer.gridOf(result.inputKey());
        List<Map<String, Object>> gridPaths = new ArrayList<>();
        gridPaths.add(Map.of("key", result.inputKey()));
        for (Workflow.StageRun r : result.stages()) {
            if (!r.newModel()) continue;
            Map<String, Object> v = measurer.measure("#" + r.index() + " " + r.kind(), r.key(), r.model(), originalGrid);
            v.put("stage", r.kind());
            v.put("key", r.key());
            variants.add(v);
        }
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("recipe", recipe.name());
        report.put("description", recipe.description());
        report.put("recipe_file", recipe.file().toString());
        report.put("model", result.input().toString());
        report.put("command", command);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("quality", s.quality());
        settings.put("samples", s.samples());
        settings.put("batch", s.batch());
        settings.put("size", s.size());
        settings.put("prompts", s.prompts());
        settings.put("seeds", s.seeds());
        report.put("settings", settings);
        List<Map<String, Object>> stages = new ArrayList<>();
        for (Workflow.StageRun r : result.stages()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", r.index());
            m.put("stage", r.kind());
            m.put("spec", r.spec());
            m.put("key", r.key());
            m.put("seconds", r.seconds());
            m.put("cached", r.cached());
            m.put("new_model", r.newModel());
            stages.add(m);
        }
        report.put("stages", stages);
        report.put("headline", headline(orig, variants.getLast(), s.fashion()));
        report.put("pareto", pareto(variants, s.fashion()));
        report.put("variants", variants);
        report = finite(report); // a figure that could not be taken is null: browsers' JSON.parse takes no NaN
        Files.createDirectories(dir);
        AtomicFiles.write(dir.resolve(JSON), Json.write(report).getBytes(StandardCharsets.UTF_8));
        List<List<Path>> grids = new ArrayList<>();
        for (Map<String, Object> v : variants) {
            List<Path> files = new ArrayList<>();
            @SuppressWarnings("unchecked") List<Object> names = (List<Object>) v.get("grid");
            for (Object n : names) files.add(measurer.gridFile((String) v.get("key"), (String) n));
            grids.add(files);
        }
        AtomicFiles.write(dir.resolve(HTML), HtmlReport.render(report, grids).getBytes(StandardCharsets.UTF_8));
        return report;
    }

    /** The same maps and lists with every NaN or infinite number as null. */
    @SuppressWarnings("unchecked")
    static <T> T finite(T o) {
        if (o instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put(k.toString(), finite(v)));
            return (T) out;
        }
        if (o instanceof List<?> l) return (T) new ArrayList<>(l.stream().map(CompressReport::finite).toList());
        if (o instanceof Double d && !Double.isFinite(d)) return null;
        return o;
    }

    /** What the final model gained and what it cost against the original. */
    static Map<String, Object> headline(Map<String, Object> orig, Map<String, Object> last, boolean fashion) {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("final", last.get("label"));
        h.put("smaller", num(orig, "size_mib") / num(last, "size_mib"));
        h.put("unet_smaller", num(orig, "unet_mib") / num(last, "unet_mib"));
        h.put("faster_unet_per_image", num(orig, "unet_s_per_image") / num(last, "unet_s_per_image"));
        h.put("peak_rss_ratio", num(last, "peak_rss_mib") / num(orig, "peak_rss_mib"));
        if (fashion) {
            h.put("fid_before", num(orig, "fid"));
            h.put("fid_after", num(last, "fid"));
            h.put("fid_change", num(last, "fid") / num(orig, "fid") - 1);
            h.put("prompt_accuracy_before", num(orig, "prompt_accuracy"));
            h.put("prompt_accuracy_after", num(last, "prompt_accuracy"));
        }
        if (last != orig) {
            h.put("grid_psnr_db", last.get("grid_psnr_db"));
            h.put("grid_ssim", last.get("grid_ssim"));
        }
        double faster = (double) h.get("faster_unet_per_image");
        String sentence = String.format(Locale.ROOT, "%s is %.2f× smaller (%.1f → %.1f MiB) and its UNet makes an image %.2f× %s "
                        + "(%.3f → %.3f s)", last.get("label"), h.get("smaller"), num(orig, "size_mib"), num(last, "size_mib"),
                faster >= 1 ? faster : 1 / faster, faster >= 1 ? "faster" : "slower", num(orig, "unet_s_per_image"), num(last, "unet_s_per_image"));
        if (fashion) {
            sentence += String.format(Locale.ROOT, "; FID %.3f → %.3f (%+.1f%%), prompt accuracy %.1f%% → %.1f%%", num(orig, "fid"),
                    num(last, "fid"), 100 * (double) h.get("fid_change"), 100 * num(orig, "prompt_accuracy"), 100 * num(last, "prompt_accuracy"));
        } else if (last.get("grid_ssim") != null) {
            sentence += String.format(Locale.ROOT, "; its images against the original's: PSNR %.1f dB, SSIM %.3f", num(last, "grid_psnr_db"),
                    num(last, "grid_ssim"));
        }
        h.put("sentence", sentence + ".");
        return h;
    }

    /** The variants on each front: quality against size, and against UNet time per image. */
    static Map<String, Object> pareto(List<Map<String, Object>> variants, boolean fashion) {
        int n = variants.size();
        double[] size = new double[n], time = new double[n], q = new double[n];
        for (int i = 0; i < n; i++) {
            Map<String, Object> v = variants.get(i);
            size[i] = num(v, "size_mib");
            time[i] = num(v, "unet_s_per_image");
            q[i] = quality(v, fashion, i == 0);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("quality_metric", fashion ? "fid" : "grid_ssim");
        m.put("higher_is_better", !fashion);
        m.put("size", Pareto.front(size, q, !fashion).stream().map(i -> variants.get(i).get("label")).toList());
        m.put("latency", Pareto.front(time, q, !fashion).stream().map(i -> variants.get(i).get("label")).toList());
        return m;
    }

    /** The plotted quality: FID, or SSIM of the grid against the original (1 for the original itself). */
    static double quality(Map<String, Object> v, boolean fashion, boolean original) {
        if (fashion) return num(v, "fid");
        return original ? 1.0 : num(v, "grid_ssim");
    }

    static double num(Map<String, Object> m, String key) {
        return m.get(key) instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
