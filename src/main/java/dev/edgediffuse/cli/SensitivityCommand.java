package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.ModelIdentity;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.compress.Rounding;
import dev.edgediffuse.compress.Sensitivity;
import dev.edgediffuse.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** edgediffuse sensitivity: per UNet layer and format, the output error quantizing that layer alone causes. */
@Command(name = "sensitivity", sortOptions = false,
        description = "measure, per UNet layer and candidate format, the error in the UNet's output that quantizing that layer "
                + "alone causes on the calibration's kept calls; writes <calibration>/sensitivity.tsv for convert --target-bits",
        footer = {"%nA killed run resumes from sensitivity.tsv.partial (layers already measured are kept)."})
final class SensitivityCommand extends CliCommand {
    @Mixin
    private ModelOption model;

    @Mixin
    private CalibrationOption calibration;

    @Option(names = "--formats", paramLabel = "F,F,...", split = ",", defaultValue = "q4_32,q4_64z,q8,f16",
            description = "candidate formats (default ${DEFAULT-VALUE})")
    private List<String> formats;

    @Option(names = "--clip", paramLabel = "absmax|mse", defaultValue = "mse", description = "scale choice, as convert's (default ${DEFAULT-VALUE})")
    private String clip;

    @Option(names = "--rounding", paramLabel = "nearest|gptq", defaultValue = "nearest", description = "rounding, as convert's (default ${DEFAULT-VALUE})")
    private String rounding;

    @Option(names = "--measure", paramLabel = "all|coarsest", defaultValue = "all", description = "run the model for every format, or "
            + "only for each layer's fewest-bit one and scale the others by their layer-output error (large models; default ${DEFAULT-VALUE})")
    private String measure;

    @Option(names = "--scheduler", paramLabel = "NAME", description = "the sampling the quantized model is for (default: the model's)")
    private String scheduler;

    @Option(names = "--steps", paramLabel = "N", description = "its steps (default: the model's)")
    private Integer steps;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "64", description = "kept UNet rows per model call (default ${DEFAULT-VALUE})")
    private int batch;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--quiet", description = "no progress on stderr")
    private boolean quiet;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        threads.apply();
        List<DType> candidates = new ArrayList<>();
        for (String f : formats) {
            DType t = FormatPlan.parseFormat(f.trim());
            if (t == null || t == DType.F32 || t == DType.BF16) throw new UsageException("--formats: unknown or unplannable format '" + f + "' (" + FormatPlan.formatNames() + ")");
            if (!candidates.contains(t)) candidates.add(t);
        }
        var settings = new Sensitivity.Settings(candidates, parseClip(clip), parseRounding(rounding), parseMeasure(measure), Math.max(1, batch));
        Path modelPath = model.path(err);
        SamplingDefaults defaults = SamplingDefaults.forModel(modelPath);
        Path dir = calibration.dir(modelPath);
        long t0 = System.nanoTime();
        try (Checkpoint cp = Checkpoint.open(modelPath, null); Calibration c = Calibration.open(dir.resolve(Calibration.FILE))) {
            c.check(ModelIdentity.of(cp), scheduler != null ? scheduler : defaults.scheduler(), steps != null ? steps : defaults.steps());
            Sensitivity.Table t = Sensitivity.measure(cp, c, settings, dir.resolve(Sensitivity.FILE), quiet ? null : err);
            out.printf("wrote %s in %.1f s: %d layers x %d formats, on %s kept UNet rows%n", dir.resolve(Sensitivity.FILE),
                    (System.nanoTime() - t0) / 1e9, t.byTensor().size(), candidates.size(), t.header().get("rows"));
            printTop(out, t);
        }
        return 0;
    }

    /** The layers whose 4-bit forms cost most: what a budget will keep wider. */
    private static void printTop(PrintStream out, Sensitivity.Table t) {
        List<Map.Entry<String, Double>> worst = new ArrayList<>();
        t.byTensor().forEach((name, rows) -> {
            double max = 0;
            for (Sensitivity.Entry e : rows) max = Math.max(max, e.mse());
            worst.add(Map.entry(name, max));
        });
        worst.sort((a, b) -> Double.compare(b.getValue(), a.getValue()));
        out.println("  most sensitive layers (largest output MSE of any candidate):");
        for (int i = 0; i < Math.min(5, worst.size()); i++) out.printf("    %-70s %.3e%n", worst.get(i).getKey(), worst.get(i).getValue());
    }

    static Quantizer.Clip parseClip(String s) {
        try {
            return Quantizer.Clip.parse(s);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--clip must be absmax or mse, got '" + s + "'");
        }
    }

    static Rounding parseRounding(String s) {
        try {
            return Rounding.parse(s);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    static Sensitivity.Measure parseMeasure(String s) {
        try {
            return Sensitivity.Measure.parse(s);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
