package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.prune.BlockRemoval;
import dev.edgediffuse.prune.PrunePlan;
import dev.edgediffuse.prune.SignificancePruning;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** prune: BK-SDM block removal, significance and/or magnitude pruning, as {@code edgediffuse prune} (keys: its options). */
final class PruneStage implements Stage {
    private final PrunePlan plan;

    PruneStage(StageSpec s) {
        String preset = s.string("preset", null);
        BlockRemoval.Preset p = null;
        if (preset != null) {
            try {
                p = BlockRemoval.Preset.parse(preset);
            } catch (IllegalArgumentException e) {
                throw s.error("\"preset\" must be base, small or tiny, got \"" + preset + "\"");
            }
        }
        Double target = s.number("target_macs", null, 1e-6, 1);
        double[] keep = s.numbers("keep", null);
        if (keep != null) for (double k : keep) if (!(k > 0 && k < 1)) throw s.error("\"keep\" ratios must be in (0, 1), got " + k);
        boolean extended = s.bool("extended", false);
        boolean significance = s.bool("significance", false) || target != null || keep != null || extended;
        int prompts = s.integer("prompts", 50, 2, 100_000), steps = s.integer("steps", 25, 1, 1000);
        int size = s.integer("size", 0, 0, 4096);
        long seed = s.integer("seed", 0, 0, Integer.MAX_VALUE);
        Double magnitude = s.number("magnitude", null, 1e-9, 1 - 1e-9);
        plan = new PrunePlan(p, significance ? new PrunePlan.Significance(target == null ? 0 : target,
                keep != null ? keep : SignificancePruning.HYBRID_SD_KEEP, prompts, steps, size, seed, extended) : null,
                magnitude == null ? 0 : magnitude);
        if (plan.empty()) throw s.error("says nothing to prune (give preset, target_macs or significance, magnitude)");
    }

    @Override
    public String kind() {
        return "prune";
    }

    @Override
    public Effect effect() {
        return Effect.WEIGHTS;
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        try (Checkpoint in = Checkpoint.open(ctx.input(), null)) {
            PrunePlan.Result r = plan.run(in, ctx.log());
            new CheckpointWriter(ctx.log()).writeFolder(r.model(), ctx.modelOut());
            AtomicFiles.write(ctx.out().resolve("prune.json"), Json.write(r.report()).getBytes(StandardCharsets.UTF_8));
        }
    }
}
