package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.ModelIdentity;
import dev.edgediffuse.compress.QuantPlanner;
import dev.edgediffuse.compress.QuantizePass;
import dev.edgediffuse.compress.Rounding;
import dev.edgediffuse.compress.Sensitivity;
import dev.edgediffuse.compress.Converter;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** edgediffuse convert: a checkpoint's weights in another format (quantized or float), mixed per layer on request. */
@Command(name = "convert", sortOptions = false,
        description = "a checkpoint's weights in another format: q8, q8_32, q4_32, q4_64 (+z), f16, bf16, f32",
        footer = {"%nGlobs match \"component/tensor\" names in a folder (e.g. unet/conv_in.weight), tensor names in a file;",
                "* matches any characters, dots and slashes included."})
final class ConvertCommand extends CliCommand {
    @Option(names = "--model", paramLabel = "DIR|FILE|NAME", required = true, completionCandidates = ModelOption.BuiltInNames.class,
            description = "a diffusers folder (or any folder of .safetensors), a single .safetensors file, or a built-in model: ${COMPLETION-CANDIDATES}")
    private String model;

    @Option(names = "--weights", paramLabel = "FORMAT", description = "q8 (int8, scale per output channel) | q8_32 "
            + "(int8, scale per 32) | q4_32 (or q4) | q4_64 (4-bit, f16 scale per 32/64) | q4_32z | q4_64z (zero point) | f16 | bf16 | f32; "
            + "required unless --target-bits/--target-mb plan the UNet (then the rest defaults to f16)")
    private String weights;

    @Option(names = "--out", paramLabel = "DIR|FILE", required = true, description = "a new folder for a folder, a file for a file")
    private Path outPath;

    @Option(names = "--keep", paramLabel = "GLOB", description = "keep matching tensors unquantized (16-bit); repeatable")
    private List<String> keep = List.of();

    @Option(names = "--layer", paramLabel = "GLOB=FMT", description = "format for matching tensors (FMT a format or keep); repeatable, first match wins")
    private List<String> layers = List.of();

    @Option(names = "--layer-map", paramLabel = "FILE", description = "a JSON object {\"GLOB\": \"FMT\", ...}, applied after --keep/--layer rules")
    private Path layerMap;

    @Option(names = "--clip", paramLabel = "absmax|mse",
            description = "scale choice: the group's range, or the clip ratio with least squared error (default absmax; with a "
                    + "target, the sensitivity table's)")
    private String clip;

    @Option(names = "--rounding", paramLabel = "nearest|gptq", description = "codes rounded to nearest, or by GPTQ from the "
            + "calibration's Hessians (UNet weights; default nearest; with a target, the sensitivity table's)")
    private String rounding;

    @Option(names = "--target-bits", paramLabel = "B", description = "automatic mixed precision: each UNet layer's format chosen "
            + "from the sensitivity table to least summed output error at B average bits per planned weight (scales included)")
    private Double targetBits;

    @Option(names = "--target-mb", paramLabel = "MB", description = "the same, to a UNet weights file of MB MiB")
    private Double targetMb;

    @Option(names = "--lowrank", paramLabel = "R", arity = "0..1", fallbackValue = "32", description = "store the --lowrank-layers "
            + "as a 16-bit rank-R branch plus a quantized residual, refined on the calibration (R default 32 when given without a value)")
    private Integer lowRank;

    @Option(names = "--lowrank-layers", paramLabel = "GLOB", defaultValue = "unet/*transformer_blocks.*",
            description = "UNet linear layers that get the branch, where both sides exceed R (default ${DEFAULT-VALUE}: "
                    + "attention and feed-forward)")
    private List<String> lowRankLayers;

    @Option(names = "--lowrank-iterations", paramLabel = "N", defaultValue = "5", description = "refinements at most (default ${DEFAULT-VALUE})")
    private int lowRankIterations;

    @Mixin
    private CalibrationOption calibration;

    @Option(names = "--scheduler", paramLabel = "NAME", description = "the sampling the calibration must match (default: the model's)")
    private String scheduler;

    @Option(names = "--steps", paramLabel = "N", description = "its steps (default: the model's)")
    private Integer steps;

    @Option(names = "--no-default-keep", description = "quantize also the layers kept by default (embeddings, the first and last "
            + "convolutions, the VAE's latent projections)")
    private boolean noDefaultKeep;

    @Option(names = "--quiet", description = "no progress lines on stderr")
    private boolean quiet;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        boolean planned = targetBits != null || targetMb != null;
        if (targetBits != null && targetMb != null) throw new UsageException("--target-bits and --target-mb exclude each other");
        if (weights == null && !planned) throw new UsageException("--weights is required (or --target-bits/--target-mb)");
        DType target = weights == null ? DType.F16 : FormatPlan.parseFormat(weights);
        if (target == null) throw new UsageException("--weights must be one of " + FormatPlan.formatNames());
        if (lowRank != null && lowRank < 1) throw new UsageException("--lowrank must be >= 1, got " + lowRank);
        if (lowRankIterations < 0) throw new UsageException("--lowrank-iterations must be >= 0");
        List<FormatPlan.Rule> rules = new ArrayList<>();
        for (String g : keep) rules.add(FormatPlan.rule(g, "keep"));
        try {
            for (String r : layers) rules.add(FormatPlan.parseRule(r));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--layer: " + e.getMessage());
        }
        if (layerMap != null) rules.addAll(layerMap(layerMap));
        Path in = BuiltInModel.resolve(model, err);
        OutputFiles.outputOfLongRun(outPath);
        long t0 = System.nanoTime();
        PrintStream progress = quiet ? null : err;
        Rounding round = rounding == null ? null : SensitivityCommand.parseRounding(rounding);
        Quantizer.Clip clipping = clip == null ? null : SensitivityCommand.parseClip(clip);
        boolean calibrated = planned || round == Rounding.GPTQ || lowRank != null || calibration.given();
        if (!calibrated) {
            FormatPlan plan = new FormatPlan(target, rules, !noDefaultKeep);
            clipping = clipping == null ? Quantizer.Clip.ABSMAX : clipping;
            if (progress != null) progress.printf("converting %s to %s (clip %s) ...%n", in, target.formatName(), clipping.name().toLowerCase());
            report(out, new Converter(plan, clipping, progress).convert(in, outPath), t0);
            return 0;
        }
        return calibratedConvert(in, target, rules, round, clipping, calibrated, progress, out, t0);
    }

    /** Conversion with the calibrated methods: a plan to the budget, GPTQ, low-rank layers, activation ranges. */
    private int calibratedConvert(Path in, DType target, List<FormatPlan.Rule> userRules, Rounding round, Quantizer.Clip clipping,
                                  boolean calibrated, PrintStream progress, PrintStream out, long t0) throws IOException {
        if (!Files.isRegularFile(in.resolve("model_index.json"))) {
            throw new UsageException("calibrated methods (--calibration, --target-bits/--target-mb, --rounding gptq, --lowrank) need a "
                    + "diffusers model folder, got " + in);
        }
        Path dir = calibration.dir(in);
        SamplingDefaults defaults = SamplingDefaults.forModel(in);
        Calibration calib = null;
        QuantPlanner.Result planned = null;
        try (Checkpoint cp = Checkpoint.open(in, null)) {
            String identity = ModelIdentity.of(cp);
            if (calibrated) {
                calib = Calibration.open(dir.resolve(Calibration.FILE));
                calib.check(identity, scheduler != null ? scheduler : defaults.scheduler(), steps != null ? steps : defaults.steps());
            }
            if (targetBits != null || targetMb != null) {
                Sensitivity.Table table = Sensitivity.Table.read(dir.resolve(Sensitivity.FILE));
                if (!identity.equals(table.identity())) {
                    throw new IllegalArgumentException(dir.resolve(Sensitivity.FILE) + " was measured on another model (" + table.header().get("model")
                            + "): run edgediffuse sensitivity on this one");
                }
                if (round == null) round = Rounding.parse(table.header().getOrDefault("rounding", "nearest"));
                if (clipping == null) clipping = Quantizer.Clip.parse(table.header().getOrDefault("clip", "absmax"));
                planned = QuantPlanner.plan(cp, table, new FormatPlan(target, userRules, !noDefaultKeep), targetBits, targetMb);
                planned.print(out);
            }
        } catch (RuntimeException e) {
            if (calib != null) calib.close();
            throw e;
        }
        try (Calibration c = calib) {
            if (round == null) round = Rounding.NEAREST;
            if (clipping == null) clipping = Quantizer.Clip.ABSMAX;
            List<FormatPlan.Rule> rules = new ArrayList<>(userRules);
            if (planned != null) rules.addAll(planned.rules());
            FormatPlan plan = new FormatPlan(target, rules, !noDefaultKeep);
            var methods = new QuantizePass.Methods(clipping, round, c, lowRank == null ? 0 : lowRank, lowRankLayers, lowRankIterations);
            QuantPlanner.Result p = planned;
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put("command", "edgediffuse " + String.join(" ", spec.commandLine().getParseResult().originalArgs()));
            settings.put("rounding", round.label());
            settings.put("clip", clipping.name().toLowerCase(Locale.ROOT));
            if (progress != null) {
                progress.printf("converting %s to %s (clip %s, rounding %s%s%s) ...%n", in, p != null ? "the plan" : target.formatName(),
                        settings.get("clip"), settings.get("rounding"), lowRank == null ? "" : ", low rank " + lowRank, c == null ? "" : ", calibration " + c.file());
            }
            Converter.Stats s = new Converter(plan, methods, converted -> {
                Map<String, byte[]> files = new LinkedHashMap<>();
                if (p != null) files.put("quant_plan.json", p.plan().json(p.params(), settings).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                if (c != null) files.put("unet/" + ActivationRanges.FILE, ActivationRanges.json(ActivationRanges.of(c, converted.unet)));
                out.printf("  UNet: %.3f bits per planned weight (scales%s included)%n", QuantPlanner.bitsPerPlannedWeight(converted.unet),
                        lowRank == null ? "" : " and low-rank branches");
                return files;
            }, progress).convert(in, outPath);
            report(out, s, t0);
            if (!s.lowRank.isEmpty()) {
                double with = 0, without = 0;
                for (double[] e : s.lowRank.values()) {
                    with += e[0];
                    without += e[1];
                }
                out.printf("  low rank: %d layers, summed layer output error %.4g vs %.4g without the branch (%.2f dB less)%n",
                        s.lowRank.size(), with, without, 10 * Math.log10(without / Math.max(with, 1e-30)));
            }
        }
        return 0;
    }

    private void report(PrintStream out, Converter.Stats s, long t0) {
        out.printf("wrote %s in %.1f s: %d weight file%s, %s -> %s (%.0f%%)%n", outPath, (System.nanoTime() - t0) / 1e9, s.files,
                s.files == 1 ? "" : "s", Converter.gb(s.bytesIn), Converter.gb(s.bytesOut), 100.0 * s.bytesOut / Math.max(1, s.bytesIn));
        for (Map.Entry<String, long[]> e : s.perFormat.entrySet()) {
            out.printf("  %-7s %5d tensors %10.1f M weights%n", e.getKey(), e.getValue()[0], e.getValue()[1] / 1e6);
        }
        s.keptReasons.forEach((why, n) -> out.printf("  not quantized: %d tensor%s, %s%n", n, n == 1 ? "" : "s", why));
        s.notes.forEach(n -> out.println("  note: " + n));
    }

    private static List<FormatPlan.Rule> layerMap(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read layer map (" + e.getMessage() + ")");
        }
        List<FormatPlan.Rule> rules = new ArrayList<>();
        for (Map.Entry<String, Object> e : Json.parseObject(text, file + "").entrySet()) {
            if (!(e.getValue() instanceof String fmt)) throw new ModelFormatException(file + ": value for " + e.getKey() + " must be a format string");
            try {
                rules.add(FormatPlan.rule(e.getKey(), fmt));
            } catch (IllegalArgumentException ex) {
                throw new ModelFormatException(file + ": " + ex.getMessage());
            }
        }
        return rules;
    }
}
