package dev.edgediffuse.cli;

import dev.edgediffuse.compress.Converter;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** edgediffuse convert: a checkpoint's weights in another format (quantized or float), mixed per layer on request. */
final class ConvertCommand {
    static final String HELP = """
            usage: edgediffuse convert --model IN --weights FORMAT --out OUT [options]
              --model DIR|FILE    a diffusers folder (or any folder of .safetensors) or a single .safetensors file
              --weights FORMAT    q8 (int8, scale per output channel) | q8_32 (int8, scale per 32)
                                  | q4_32 (or q4) | q4_64 (4-bit, f16 scale per 32/64) | q4_32z | q4_64z (zero point)
                                  | f16 | bf16 | f32
              --out DIR|FILE      a new folder for a folder, a file for a file
              --keep GLOB         keep matching tensors unquantized (16-bit); repeatable
              --layer GLOB=FMT    format for matching tensors (FMT a format or keep); repeatable, first match wins
              --layer-map FILE    a JSON object {"GLOB": "FMT", ...}, applied after --keep/--layer rules
              --clip absmax|mse   scale choice: the group's range (default) or the clip ratio with least squared error
              --no-default-keep   quantize also the layers kept by default (%s)
              --quiet             no progress lines on stderr
            Globs match "component/tensor" names in a folder (e.g. unet/conv_in.weight), tensor names in a file;
            * matches any characters, dots and slashes included.""".formatted(String.join(" ", FormatPlan.DEFAULT_KEEP));

    private ConvertCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, Set.of("--model", "--weights", "--out", "--keep", "--layer", "--layer-map", "--clip"),
                Set.of("--no-default-keep", "--quiet"));
        for (String req : List.of("--model", "--weights", "--out")) if (!a.has(req)) throw new Args.UsageException(req + " is required");
        DType target = FormatPlan.parseFormat(a.get("--weights", ""));
        if (target == null) throw new Args.UsageException("--weights must be one of " + FormatPlan.formatNames());
        Quantizer.Clip clip;
        try {
            clip = Quantizer.Clip.parse(a.get("--clip", "absmax"));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("--clip must be absmax or mse");
        }
        List<FormatPlan.Rule> rules = new ArrayList<>();
        for (String g : a.getAll("--keep")) rules.add(FormatPlan.rule(g, "keep"));
        try {
            for (String r : a.getAll("--layer")) rules.add(FormatPlan.parseRule(r));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("--layer: " + e.getMessage());
        }
        if (a.has("--layer-map")) rules.addAll(layerMap(a.path("--layer-map")));
        FormatPlan plan = new FormatPlan(target, rules, !a.has("--no-default-keep"));
        Path in = a.path("--model"), outPath = a.path("--out");
        long t0 = System.nanoTime();
        PrintStream progress = a.has("--quiet") ? null : err;
        if (progress != null) progress.printf("converting %s to %s (clip %s) ...%n", in, target.formatName(), clip.name().toLowerCase());
        Converter.Stats s;
        try {
            s = new Converter(plan, clip, progress).convert(in, outPath);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
