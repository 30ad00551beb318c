package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.prune.BlockRemoval;
import dev.edgediffuse.prune.PrunePlan;
import dev.edgediffuse.prune.SignificancePruning;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/** edgediffuse prune: a smaller model from a model, by block removal, significance pruning and/or magnitude pruning. */
@Command(name = "prune", sortOptions = false,
        description = "a smaller model: BK-SDM block removal (--preset), Hybrid SD significance pruning (--significance, "
                + "--target-macs), magnitude pruning (--magnitude); the passes run in that order",
        footer = {"%nThe result is a model folder every command loads; distill recovers its quality (edgediffuse distill)."})
final class PruneCommand extends CliCommand {
    @Option(names = "--model", paramLabel = "DIR|FILE|NAME", required = true, completionCandidates = ModelOption.BuiltInNames.class,
            description = "the teacher: a diffusers folder, a single .safetensors file, or a built-in model: ${COMPLETION-CANDIDATES}")
    private String model;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "the model folder to write")
    private Path out;

    @Option(names = "--preset", paramLabel = "base|small|tiny", description = "BK-SDM block removal: base (one layer per down stage, "
            + "first and last per up stage), small (also no mid block), tiny (also no innermost stage)")
    private String preset;

    @Option(names = "--significance", description = "significance pruning of ResNet channels and attention heads with Hybrid SD's keep "
            + "ratios by rank (implied by --target-macs)")
    private boolean significance;

    @Option(names = "--target-macs", paramLabel = "SHARE", description = "significance pruning to at most this share of the input's "
            + "UNet MACs (e.g. 0.3), the keep ratios scaled to fit")
    private Double targetMacs;

    @Option(names = "--keep", paramLabel = "R,...", split = ",", hideParamSyntax = true,
            description = "keep ratios by significance rank, least significant first, each in (0, 1) (default 0.25,0.5,0.75)")
    private double[] keep;

    @Option(names = "--extended", description = "significance pruning also narrows the transformers' feed-forward layers and the up stages' upsamplers")
    private boolean extended;

    @Option(names = "--prompts", paramLabel = "N", defaultValue = "50", description = "significance: prompts of the scoring set (default ${DEFAULT-VALUE})")
    private int prompts;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "25", description = "significance: denoising steps per image (default ${DEFAULT-VALUE})")
    private int steps;

    @Option(names = "--size", paramLabel = "PX", description = "significance: image size (default: the model's own)")
    private Integer size;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "significance: seed of the scoring set (default ${DEFAULT-VALUE})")
    private long seed;

    @Option(names = "--magnitude", paramLabel = "SHARE", description = "zero this share of each UNet layer's smallest weights (e.g. 0.1)")
    private Double magnitude;

    @Option(names = "--report", paramLabel = "FILE.json", description = "also write what each pass did (MACs, parameters, ranking, widths)")
    private Path report;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--quiet", description = "no progress on stderr")
    private boolean quiet;

    @Override
    int run(PrintStream outStream, PrintStream err) throws IOException {
        PrunePlan plan = plan();
        threads.apply();
        Path in = BuiltInModel.resolve(model, err);
        OutputFiles.outputOfLongRun(out);
        try (Checkpoint teacher = Checkpoint.open(in, null)) {
            PrunePlan.Result r = plan.run(teacher, quiet ? null : err);
            new CheckpointWriter(quiet ? null : err).writeFolder(r.model().withName(out.getFileName().toString()), out);
            Map<String, Object> rep = r.report();
            outStream.printf(java.util.Locale.ROOT, "wrote %s: UNet %.2f M MACs -> %.2f M (%.1f%%), %,d -> %,d parameters%n", out,
                    ((Number) rep.get("unet_macs")).longValue() / 1e6, last(rep, "unet_macs") / 1e6,
                    100.0 * last(rep, "unet_macs") / ((Number) rep.get("unet_macs")).longValue(), rep.get("unet_parameters"),
                    last(rep, "unet_parameters"));
            if (report != null) AtomicFiles.write(report, Json.write(rep).getBytes(StandardCharsets.UTF_8));
            return 0;
        }
    }

    /** A figure of the last pass that ran. */
    @SuppressWarnings("unchecked")
    private static long last(Map<String, Object> rep, String key) {
        Map<String, Object> step = null;
        for (String pass : new String[]{"blocks", "significance", "magnitude"}) {
            if (rep.get(pass) instanceof Map<?, ?> m) step = (Map<String, Object>) m;
        }
        return ((Number) step.get(key)).longValue();
    }

    private PrunePlan plan() {
        BlockRemoval.Preset p = null;
        if (preset != null) {
            try {
                p = BlockRemoval.Preset.parse(preset);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--preset must be base, small or tiny, got '" + preset + "'");
            }
        }
        if (targetMacs != null && !(targetMacs > 0 && targetMacs <= 1)) throw new UsageException("--target-macs must be in (0, 1], got " + targetMacs);
        if (magnitude != null && !(magnitude > 0 && magnitude < 1)) throw new UsageException("--magnitude must be in (0, 1), got " + magnitude);
        double[] ratios = keep != null ? keep : SignificancePruning.HYBRID_SD_KEEP;
        for (double k : ratios) if (!(k > 0 && k < 1)) throw new UsageException("--keep ratios must be in (0, 1), got " + k);
        boolean sig = significance || targetMacs != null || keep != null || extended;
        if (sig && prompts < 2) throw new UsageException("--prompts must be >= 2, got " + prompts);
        if (sig && steps < 1) throw new UsageException("--steps must be >= 1, got " + steps);
        PrunePlan plan = new PrunePlan(p, sig ? new PrunePlan.Significance(targetMacs == null ? 0 : targetMacs, ratios, prompts, steps,
                size == null ? 0 : size, seed, extended) : null, magnitude == null ? 0 : magnitude);
        if (plan.empty()) throw new UsageException("give --preset, --significance (or --target-macs) and/or --magnitude");
        return plan;
    }
}
