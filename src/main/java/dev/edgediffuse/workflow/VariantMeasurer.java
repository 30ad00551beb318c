package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.eval.CachedGenerator;
import dev.edgediffuse.eval.EvalPlan;
import dev.edgediffuse.eval.EvalReport;
import dev.edgediffuse.eval.Evaluator;
import dev.edgediffuse.eval.ImageGenerator;
import dev.edgediffuse.eval.ImageMetrics;
import dev.edgediffuse.eval.PipelineGenerator;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The report's figures for one variant (the original, or a stage's model): size, the per-layer formats, one image's
 * UNet time and peak memory (in a fresh JVM, {@link SpeedProbe}), the side-by-side grid, and quality: FID and prompt
 * accuracy with eval's judge plus fidelity to the original on the same prompts, seeds and noise. Each variant's figures
 * are cached in the work folder under its stage key and the report settings, so a re-run measures nothing twice.
 */
final class VariantMeasurer {
    private final ReportSettings settings;
    private final Path work;
    private final Path original;
    private final String originalKey;
    private final PrintStream log;

    VariantMeasurer(ReportSettings settings, Path work, Path original, String originalKey, PrintStream log) {
        this.settings = settings;
        this.work = work;
        this.original = original;
        this.originalKey = originalKey;
        this.log = log;
    }

    /** The figures of {@code model} (cached under {@code key}); {@code originalGrid}: the original's grid (null for it). */
    Map<String, Object> measure(String label, String key, Path model, List<byte[]> originalGrid) throws IOException {
        Path dir = work.resolve("measure").resolve(key.substring(0, 12) + "-" + Digests.of(settings.key()).substring(0, 8));
        Path file = dir.resolve("figures.json");
        if (Files.isRegularFile(file)) {
            if (log != null) log.println("report: " + label + ": figures cached in " + dir);
            Map<String, Object> m = Json.parseObject(Files.readString(file), file.toString());
            m.put("label", label);
            return m;
        }
        if (log != null) log.println("report: measuring " + label + " (" + model + ") ...");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("label", label);
        m.put("model", model.toAbsolutePath().toString());
        SamplingDefaults d = SamplingDefaults.forModel(model);
        m.put("sampling", d.toJson());
        sizes(model, m);
        m.putAll(speed(model));
        List<byte[]> grid = grid(model);
        Files.createDirectories(dir);
        List<String> pngs = new ArrayList<>();
        int side = ((Number) m.get("size")).intValue();
        for (int i = 0; i < grid.size(); i++) {
            String name = String.format("grid-%03d.png", i);
            Png.write(dir.resolve(name), grid.get(i), side, side, Map.of());
            pngs.add(name);
        }
        m.put("grid", pngs);
        if (originalGrid != null) fidelityOnGrid(grid, originalGrid, side, m);
        if (settings.fashion()) m.putAll(fashionQuality(model, originalGrid == null));
        m.put("commands", commands(model));
        AtomicFiles.write(file, Json.write(m).getBytes(StandardCharsets.UTF_8));
        return m;
    }

    /** The grid images of a measured variant (RGB bytes), read back from its folder. */
    List<byte[]> gridOf(String key) throws IOException {
        Path dir = work.resolve("measure").resolve(key.substring(0, 12) + "-" + Digests.of(settings.key()).substring(0, 8));
        List<byte[]> out = new ArrayList<>();
        try (var files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.getFileName().toString().startsWith("grid-")).sorted().toList()) {
                var img = Images.read(p);
                out.add(Images.toRgb(img, 0));
            }
        }
        return out;
    }

    Path gridFile(String key, String name) {
        return work.resolve("measure").resolve(key.substring(0, 12) + "-" + Digests.of(settings.key()).substring(0, 8)).resolve(name);
    }

    /** Bytes of all weights, of the UNet's, and each UNet tensor's format. */
    private static void sizes(Path model, Map<String, Object> m) throws IOException {
        long all = 0, unet = 0;
        Map<String, Object> formats = new TreeMap<>();
        Map<String, Object> counts = new TreeMap<>();
        List<Path> files;
        try (var walk = Files.walk(model)) {
            files = walk.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList();
        }
        for (Path f : files) {
            long bytes = Files.size(f);
            all += bytes;
            boolean isUnet = model.relativize(f).toString().startsWith("unet");
            if (isUnet) unet += bytes;
            try (SafeTensors st = SafeTensors.open(f)) {
                for (Map.Entry<String, Weight> e : st.tensors().entrySet()) {
                    String fmt = e.getValue().dtype().formatName();
                    if (isUnet && e.getKey().endsWith(".weight") && e.getValue().shape().length >= 2) {
                        formats.put(e.getKey().substring(0, e.getKey().length() - ".weight".length()), fmt);
                        counts.merge(fmt, 1L, (a, b) -> (Long) a + (Long) b);
                    }
                }
            }
        }
        m.put("size_mib", all / 1048576.0);
        m.put("unet_mib", unet / 1048576.0);
        m.put("unet_formats", counts);
        m.put("layer_formats", formats);
    }

    /** One image timed in a fresh JVM: UNet seconds per step and per image, peak RSS. */
    private Map<String, Object> speed(Path model) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx3g", "-cp", System.getProperty("java.class.path"), SpeedProbe.class.getName(), model.toAbsolutePath().toString(),
                Integer.toString(settings.size()), settings.prompts().getFirst(), Double.toString(settings.warmupSeconds()),
                Double.toString(settings.timedSeconds())));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        try {
            int rc = p.waitFor();
            if (rc != 0 || out.isEmpty()) throw new IOException("timing " + model + " failed (exit " + rc + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        String last = out.substring(out.lastIndexOf('\n') + 1);
        return Json.parseObject(last, "speed probe of " + model);
    }

    /** The grid: every prompt × seed with the model's own sampling defaults (as generate makes them), RGB bytes. */
    private List<byte[]> grid(Path model) {
        List<byte[]> out = new ArrayList<>();
        try (Pipeline p = Pipeline.load(model)) {
            SamplingDefaults d = p.samplingDefaults();
            int side = settings.size() > 0 ? settings.size() : p.defaultImageSize();
            GenerateRequest base = GenerateRequest.of("").withSteps(d.steps()).withCfg(d.cfg()).withCfgMaxTimestep(d.cfgMaxTimestep())
                    .withScheduler(d.scheduler()).withSize(side, side).withSpeedUps(d.speedUpsFor(d.steps(), d.scheduler()));
            List<GenerateRequest> all = new ArrayList<>();
            for (String prompt : settings.prompts()) for (long seed : settings.seeds()) all.add(base.withPrompt(prompt).withSeed(seed));
            var images = p.generateBatch(all);
            for (int i = 0; i < all.size(); i++) out.add(Images.toRgb(images, i));
        }
        return out;
    }

    /** PSNR and SSIM of the grid against the original's grid: the same prompts, seeds and initial noise. */
    private static void fidelityOnGrid(List<byte[]> grid, List<byte[]> ref, int side, Map<String, Object> m) {
        double psnr = 0, ssim = 0;
        int finite = 0;
        for (int i = 0; i < grid.size(); i++) {
            float[] a = floats(grid.get(i)), b = floats(ref.get(i));
            double p = ImageMetrics.psnr(a, b);
            psnr += Double.isInfinite(p) ? Evaluator.PSNR_CAP : p;
            finite++;
            if (side >= 11) ssim += ImageMetrics.ssim(a, b, side, side, 3);
        }
        m.put("grid_psnr_db", psnr / finite);
        if (side >= 11) m.put("grid_ssim", ssim / grid.size());
    }

    private static float[] floats(byte[] rgb) {
        float[] f = new float[rgb.length];
        for (int i = 0; i < f.length; i++) f[i] = (rgb[i] & 0xff) / 255f;
        return f;
    }

    /** eval's figures: FID and prompt accuracy, and (for a variant) PSNR/SSIM/class changes against the original. */
    private Map<String, Object> fashionQuality(Path model, boolean isOriginal) throws IOException {
        Path classifierDir = BuiltInModel.FASHION_CLASSIFIER.unpack(null);
        FashionMnist test = FashionMnist.test(settings.data()), train = FashionMnist.train(settings.data());
        PipelineGenerator.Sampling sampling = sampling(model);
        Map<String, Object> m = new LinkedHashMap<>();
        try (FashionClassifier judge = FashionClassifier.load(classifierDir);
             PipelineGenerator gen = PipelineGenerator.open(model, sampling, settings.batch());
             PipelineGenerator ref = isOriginal ? null : PipelineGenerator.open(original, sampling(original).withoutSpeedUps(), settings.batch());
             ImageGenerator refCached = ref == null ? null : new CachedGenerator(ref, work.resolve("reference-" + originalKey.substring(0, 12)),
                     original.toAbsolutePath() + " " + sampling(original).withoutSpeedUps() + "\n")) {
            Evaluator evaluator = new Evaluator(judge, train, test, log);
            EvalReport r = evaluator.evaluate(gen, refCached, EvalPlan.of(settings.samples(), 0), new Evaluator.Options(0, 0));
            m.put("fid", r.fid());
            m.put("prompt_accuracy", r.accuracy().overall());
            m.put("eval_samples", settings.samples());
            if (r.fidelity() != null) {
                m.put("psnr_db", r.fidelity().psnrMean());
                m.put("ssim", r.fidelity().ssimMean());
                m.put("class_change", r.fidelity().classChangeShare());
            }
        }
        return m;
    }

    /** How eval samples a model: its own defaults (the speed-ups a speedups stage chose included). */
    private PipelineGenerator.Sampling sampling(Path model) {
        SamplingDefaults d = SamplingDefaults.forModel(model);
        int side = settings.size() > 0 ? settings.size() : FashionMnist.SIZE;
        return new PipelineGenerator.Sampling(d.steps(), d.cfg(), d.cfgMaxTimestep(), d.scheduler(), "", side, side,
                d.speedUpsFor(d.steps(), d.scheduler()));
    }

    /** The commands that reproduce this variant's figures. */
    private Map<String, Object> commands(Path model) {
        Map<String, Object> c = new LinkedHashMap<>();
        String m = model.toAbsolutePath().toString();
        int side = settings.size();
        c.put("size", "du -b " + m + "/*/*.safetensors   # or: edgediffuse bench --model " + m + " (its 'weights' line)");
        c.put("speed", "edgediffuse generate --model " + m + " --prompt \"" + settings.prompts().getFirst() + "\" --seed 1"
                + (side > 0 ? " --width " + side + " --height " + side : "") + "   # after one warm-up image; the summary's UNet time and peak RSS");
        StringBuilder grid = new StringBuilder("edgediffuse grid --model " + m + " --prompts \"" + String.join("|", settings.prompts())
                + "\" --seeds " + settings.seeds().size() + " --out grid.png");
        c.put("grid", grid.toString());
        if (settings.fashion()) {
            c.put("quality", "edgediffuse eval --model " + m + (m.equals(original.toAbsolutePath().toString()) ? "" : " --reference "
                    + original.toAbsolutePath() + " --reference-cache ref-cache") + " --samples " + settings.samples() + " --batch "
                    + settings.batch() + " --held-out 0 --latency-runs 0" + (side > 0 ? " --size " + side : ""));
        }
        return c;
    }
}
