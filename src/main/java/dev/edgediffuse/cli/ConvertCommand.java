package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.compress.Converter;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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

    @Option(names = "--weights", paramLabel = "FORMAT", required = true, description = "q8 (int8, scale per output channel) | q8_32 "
            + "(int8, scale per 32) | q4_32 (or q4) | q4_64 (4-bit, f16 scale per 32/64) | q4_32z | q4_64z (zero point) | f16 | bf16 | f32")
    private String weights;

    @Option(names = "--out", paramLabel = "DIR|FILE", required = true, description = "a new folder for a folder, a file for a file")
    private Path outPath;

    @Option(names = "--keep", paramLabel = "GLOB", description = "keep matching tensors unquantized (16-bit); repeatable")
    private List<String> keep = List.of();

    @Option(names = "--layer", paramLabel = "GLOB=FMT", description = "format for matching tensors (FMT a format or keep); repeatable, first match wins")
    private List<String> layers = List.of();

    @Option(names = "--layer-map", paramLabel = "FILE", description = "a JSON object {\"GLOB\": \"FMT\", ...}, applied after --keep/--layer rules")
    private Path layerMap;

    @Option(names = "--clip", paramLabel = "absmax|mse", defaultValue = "absmax",
            description = "scale choice: the group's range, or the clip ratio with least squared error (default ${DEFAULT-VALUE})")
    private String clip;

    @Option(names = "--no-default-keep", description = "quantize also the layers kept by default (embeddings, the first and last "
            + "convolutions, the VAE's latent projections)")
    private boolean noDefaultKeep;

    @Option(names = "--quiet", description = "no progress lines on stderr")
    private boolean quiet;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        DType target = FormatPlan.parseFormat(weights);
        if (target == null) throw new UsageException("--weights must be one of " + FormatPlan.formatNames());
        Quantizer.Clip clipping;
        try {
            clipping = Quantizer.Clip.parse(clip);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--clip must be absmax or mse");
        }
        List<FormatPlan.Rule> rules = new ArrayList<>();
        for (String g : keep) rules.add(FormatPlan.rule(g, "keep"));
        try {
            for (String r : layers) rules.add(FormatPlan.parseRule(r));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--layer: " + e.getMessage());
        }
        if (layerMap != null) rules.addAll(layerMap(layerMap));
        FormatPlan plan = new FormatPlan(target, rules, !noDefaultKeep);
        Path in = BuiltInModel.resolve(model, err);
        long t0 = System.nanoTime();
        PrintStream progress = quiet ? null : err;
        if (progress != null) progress.printf("converting %s to %s (clip %s) ...%n", in, target.formatName(), clipping.name().toLowerCase());
        Converter.Stats s = new Converter(plan, clipping, progress).convert(in, outPath);
        out.printf("wrote %s in %.1f s: %d weight file%s, %s -> %s (%.0f%%)%n", outPath, (System.nanoTime() - t0) / 1e9, s.files,
                s.files == 1 ? "" : "s", Converter.gb(s.bytesIn), Converter.gb(s.bytesOut), 100.0 * s.bytesOut / Math.max(1, s.bytesIn));
        for (Map.Entry<String, long[]> e : s.perFormat.entrySet()) {
            out.printf("  %-7s %5d tensors %10.1f M weights%n", e.getKey(), e.getValue()[0], e.getValue()[1] / 1e6);
        }
        s.keptReasons.forEach((why, n) -> out.printf("  not quantized: %d tensor%s, %s%n", n, n == 1 ? "" : "s", why));
        s.notes.forEach(n -> out.println("  note: " + n));
        return 0;
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
