package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.compress.Converter;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.kernels.Gemm;
import dev.edgediffuse.kernels.Parallel;
import dev.edgediffuse.kernels.VectorWidth;
import dev.edgediffuse.kernels.WarmUp;
import dev.edgediffuse.kernels.WeightPanels;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Memory;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * edgediffuse bench: per-stage seconds, GFLOP (from the kernels' MAC counts), GFLOP/s and peak RSS for SD1.5-size
 * runs, next to this machine's own GEMM ceiling measured in the same process.
 */
@Command(name = "bench", sortOptions = false,
        description = "per-stage seconds, GFLOP/s and peak memory at SD1.5 size, against this machine's GEMM ceiling")
final class BenchCommand extends CliCommand {
    @Option(names = "--model", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "checkpoint to run, or a built-in model: ${COMPLETION-CANDIDATES} (default: a random-weight SD1.5-size "
                    + "checkpoint made on the fly)")
    private String model;

    @Option(names = "--compare", paramLabel = "M,...", split = ",", hideParamSyntax = true, completionCandidates = ModelOption.BuiltInNames.class,
            description = "also run these models (folders, files or built-in names) at the same sizes and settings, and report each "
                    + "one's UNet time per step as a ratio to the first model's (e.g. students against their teacher)")
    private List<String> compare = List.of();

    @Mixin
    private DTypeOption dtype;

    @Option(names = "--weights", paramLabel = "FORMAT", description = "convert the model first (as edgediffuse convert --weights FORMAT): q8 | q8_32 | q4_32 ...")
    private String weights;

    @Option(names = "--sizes", paramLabel = "LIST", split = ",", hideParamSyntax = true, defaultValue = "256,512",
            description = "image sizes, e.g. 256,512 (default ${DEFAULT-VALUE})")
    private int[] sizes;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "3", description = "denoising steps per size, the first being warm-up (default ${DEFAULT-VALUE})")
    private int steps;

    @Mixin
    private LoadOptions load;

    /** With a speed-up: the UNet with and without it (and with both) in the same process, see {@link SpeedUpBench}. */
    @Mixin
    private SpeedUpOptions speedUps;

    @Option(names = "--attention-share", description = "also time the UNet with every self-attention reduced to one token "
            + "(at full resolution, then everywhere): the share of a step that self-attention takes")
    private boolean attentionShare;

    @Mixin
    private ActivationsOption activations;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--json", description = "one JSON object on stdout instead of the table")
    private boolean json;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        DType convertTo = null;
        if (weights != null) {
            convertTo = FormatPlan.parseFormat(weights);
            if (convertTo == null) throw new UsageException("--weights must be one of " + FormatPlan.formatNames());
        }
        threads.apply();
        if (steps < 2) throw new UsageException("--steps must be >= 2 (the first step is warm-up)");
        SpeedUps ups = speedUps.speedUps();
        ups.validate(steps, "euler"); // bench runs Euler
        for (int size : sizes) {
            try {
                GenerateRequest.checkSide("--sizes entries", size);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        }
        Path tmp = null;
        try {
            Path modelPath;
            if (model != null) {
                modelPath = BuiltInModel.resolve(model, err);
            } else {
                tmp = Files.createTempDirectory("edgediffuse-bench");
                err.println("writing a random-weight SD1.5 checkpoint to " + tmp + " ...");
                modelPath = tmp.resolve("random");
                RandomCheckpoint.writeFolder(modelPath, ModelConfigs.builtIn("sd15"), dtype.dtype(), 0);
            }
            if (convertTo != null) {
                if (tmp == null) tmp = Files.createTempDirectory("edgediffuse-bench");
                Path converted = tmp.resolve(convertTo.formatName() + (Files.isDirectory(modelPath) ? "" : ".safetensors"));
                err.println("converting " + modelPath + " to " + convertTo.formatName() + " ...");
                new Converter(new FormatPlan(convertTo, List.of(), true), Quantizer.Clip.ABSMAX, null).convert(modelPath, converted);
                modelPath = converted;
            }
            Map<String, Object> weightsSummary = weightSummary(modelPath);
            WarmUp.startAndWait();
            double ceiling = gemmCeiling();
            err.println("kernels: " + VectorWidth.describe());
            err.printf("GEMM ceiling (2048x1280x1280, %d threads): %.1f GFLOP/s%n", Parallel.threads(), ceiling);
            if (!ups.none() || attentionShare) {
                SpeedUpBench.Report report = new SpeedUpBench(modelPath, load.options(), steps, ups, attentionShare, json ? null : err).run(sizes);
                if (json) {
                    Map<String, Object> all = new LinkedHashMap<>();
                    all.put("threads", Parallel.threads());
                    all.put("gemm_ceiling_gflops", round(ceiling));
                    all.put("weights", weightsSummary);
                    all.put("steps", steps);
                    all.put("variants", report.variants());
                    all.put("attention_share", report.attentionShare());
                    out.println(Json.write(all));
                } else {
                    out.println("weights: " + weightsSummary.get("mib") + " MiB, tensors per format " + weightsSummary.get("formats"));
                    out.printf("GEMM ceiling: %.1f GFLOP/s (%d threads)%n", ceiling, Parallel.threads());
                    report.print(out);
                }
                return 0;
            }
            List<Map<String, Object>> rows = runs(modelPath, ceiling, err);
            List<Map<String, Object>> compared = new ArrayList<>();
            for (String m : compare) {
                for (Map<String, Object> r : runs(BuiltInModel.resolve(m, err), ceiling, err)) {
                    Map<String, Object> first = rows.get(compared.size() % rows.size());
                    r.put("unet_step_vs_first", round((Double) r.get("unet_step_s") / (Double) first.get("unet_step_s")));
                    r.put("vae_vs_first", round((Double) r.get("vae_s") / (Double) first.get("vae_s")));
                    compared.add(r);
                }
            }
            if (json) {
                Map<String, Object> all = new LinkedHashMap<>();
                all.put("threads", Parallel.threads());
                all.put("gemm_ceiling_gflops", round(ceiling));
                all.put("weights", weightsSummary);
                all.put("runs", rows);
                if (!compared.isEmpty()) all.put("compared", compared);
                out.println(Json.write(all));
            } else {
                out.println("weights: " + weightsSummary.get("mib") + " MiB, tensors per format " + weightsSummary.get("formats"));
                printTable(out, rows, ceiling);
                if (!compared.isEmpty()) printComparison(out, rows, compared);
            }
            return 0;
        } finally {
            if (tmp != null) AtomicFiles.deleteTree(tmp);
        }
    }

    /** One generation per size, each in a freshly loaded pipeline: a row of stage figures per size. */
    private List<Map<String, Object>> runs(Path modelPath, double ceiling, PrintStream err) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int size : sizes) {
            Memory.resetPeak();
            try (Pipeline p = Pipeline.load(modelPath, load.options(), activations.layers(modelPath))) {
                GenerateRequest req = GenerateRequest.of("a lighthouse on a cliff at dusk, detailed")
                        .withSize(size, size).withSteps(steps).withScheduler("euler");
                GenerateResult r = p.generate(req, json ? null : err);
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("model", modelPath.toString());
                row.putAll(row(size, r.timings(), steps, ceiling));
                rows.add(row);
            }
        }
        return rows;
    }

    private static void printComparison(PrintStream out, List<Map<String, Object>> first, List<Map<String, Object>> compared) {
        out.println("| model | size | UNet s/step (CFG) | vs " + first.getFirst().get("model") + " | UNet GFLOP/step | VAE s | vs first |");
        out.println("|---|---|---|---|---|---|---|");
        for (Map<String, Object> r : first) {
            out.printf("| %s | %s | %s | 1 | %s | %s | 1 |%n", r.get("model"), r.get("size"), r.get("unet_step_s"), r.get("unet_step_gflop"), r.get("vae_s"));
        }
        for (Map<String, Object> r : compared) {
            out.printf("| %s | %s | %s | %s | %s | %s | %s |%n", r.get("model"), r.get("size"), r.get("unet_step_s"), r.get("unet_step_vs_first"),
                    r.get("unet_step_gflop"), r.get("vae_s"), r.get("vae_vs_first"));
        }
    }

    /** Size on disk of a model's .safetensors files and how many tensors each weight format holds. */
    static Map<String, Object> weightSummary(Path model) throws IOException {
        List<Path> files;
        try (var walk = Files.walk(model)) {
            files = walk.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList();
        }
        long bytes = 0;
        Map<String, Object> formats = new java.util.TreeMap<>();
        for (Path f : files) {
            bytes += Files.size(f);
            try (SafeTensors st = SafeTensors.open(f)) {
                for (Weight w : st.tensors().values()) formats.merge(w.dtype().formatName(), 1L, (x, y) -> (Long) x + (Long) y);
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mib", round(bytes / 1048576.0));
        m.put("formats", formats);
        return m;
    }

    /** Best GFLOP/s of the project's own GEMM on a large square-ish problem over about two seconds. */
    static double gemmCeiling() {
        int m = 2048, k = 1280, n = 1280;
        float[] x = new float[m * k], w = new float[n * k], y = new float[m * n];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() - 0.5f;
        for (int i = 0; i < w.length; i++) w[i] = r.nextFloat() - 0.5f;
        WeightPanels b = new WeightPanels(Weight.ofFloats("ceiling", w, n, k));
        double best = 0;
        long end = System.nanoTime() + 2_500_000_000L;
        for (int it = 0; it < 3 || System.nanoTime() < end; it++) {
            long t = System.nanoTime();
            Gemm.multiply(x, 0, k, m, b, null, y, 0, n);
            best = Math.max(best, 2.0 * m * k * n / ((System.nanoTime() - t) / 1e9) / 1e9);
        }
        return best;
    }

    private static Map<String, Object> row(int size, GenerateResult.Timings t, int steps, double ceiling) {
        double[] warm = Arrays.copyOfRange(t.unetStepSeconds(), 1, steps);
        Arrays.sort(warm);
        double step = warm[warm.length / 2];
        double unetGflop = 2.0 * t.unetMacs() / steps / 1e9, vaeGflop = 2.0 * t.vaeMacs() / 1e9, textGflop = 2.0 * t.textMacs() / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("size", size);
        m.put("load_s", round(t.loadSeconds()));
        m.put("text_s", round(t.textSeconds()));
        m.put("text_gflop", round(textGflop));
        // cold start: from opening the checkpoint to the first UNet step (the first size runs in a fresh JVM)
        m.put("open_to_first_step_s", round(t.loadSeconds() + t.textSeconds()));
        m.put("unet_step_s", round(step));
        long[] alloc = Arrays.copyOfRange(t.unetStepAllocatedBytes(), 1, steps);
        Arrays.sort(alloc);
        m.put("unet_step_alloc_mib", round(alloc[alloc.length / 2] / 1048576.0));
        m.put("unet_step_gflop", round(unetGflop));
        m.put("unet_gflops", round(unetGflop / step));
        m.put("unet_vs_ceiling", round(unetGflop / step / ceiling));
        m.put("vae_s", round(t.vaeSeconds()));
        m.put("vae_gflop", round(vaeGflop));
        m.put("vae_gflops", round(vaeGflop / t.vaeSeconds()));
        m.put("peak_rss_mib", t.peakRssBytes() < 0 ? -1 : t.peakRssBytes() / 1048576);
        return m;
    }

    private static void printTable(PrintStream out, List<Map<String, Object>> rows, double ceiling) {
        out.printf("GEMM ceiling: %.1f GFLOP/s (%d threads)%n", ceiling, Parallel.threads());
        out.println("| size | load s | text s | open → 1st step s | UNet s/step (CFG) | UNet GFLOP/step | UNet GFLOP/s | vs ceiling | VAE s | VAE GFLOP | VAE GFLOP/s | peak RSS MiB | allocated MiB/step |");
        out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (Map<String, Object> r : rows) {
            out.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", r.get("size"), r.get("load_s"), r.get("text_s"),
                    r.get("open_to_first_step_s"),
                    r.get("unet_step_s"), r.get("unet_step_gflop"), r.get("unet_gflops"), r.get("unet_vs_ceiling"),
                    r.get("vae_s"), r.get("vae_gflop"), r.get("vae_gflops"), r.get("peak_rss_mib"), r.get("unet_step_alloc_mib"));
        }
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

}
