package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.ModelIdentity;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.compress.Rounding;
import dev.edgediffuse.compress.Sensitivity;
import dev.edgediffuse.data.CalibrationPrompts;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * calibrate: the UNet's layer inputs over the model's own sampling ({@code edgediffuse calibrate}: prompts, count,
 * width, height, batch, seed, hessian_block, keep_steps, keep_prompts) and then the per-layer sensitivity table
 * ({@code edgediffuse sensitivity}: formats, clip, rounding, measure, sensitivity_batch) that a quantize stage's
 * budget plans from. Both work in the stage's work folder, which survives a kill: a killed stage continues from
 * the calibration's last checkpoint (every {@code checkpoint_seconds}, default 300) or the sensitivity table's last
 * layer, and the finished files move into the stage's output.
 */
final class CalibrateStage implements Stage {
    private final String prompts;
    private final Integer count;
    private final int width, height, batch, hessianBlock, keepSteps, keepPrompts, sensitivityBatch;
    private final long seed;
    private final double checkpointSeconds;
    private final Sensitivity.Settings sensitivity;

    CalibrateStage(StageSpec s) {
        prompts = s.string("prompts", null);
        if (prompts != null) {
            try {
                CalibrationPrompts.named(prompts);
            } catch (IllegalArgumentException e) {
                throw s.error("\"prompts\": " + e.getMessage());
            }
        }
        count = s.integer("count", null, 1, 100_000);
        width = s.integer("width", 0, 0, 4096);
        height = s.integer("height", 0, 0, 4096);
        if (width % 8 != 0 || height % 8 != 0) throw s.error("\"width\" and \"height\" must be multiples of 8");
        batch = s.integer("batch", 16, 1, 4096);
        seed = s.integer("seed", 1_000_000_000, 0, Integer.MAX_VALUE);
        hessianBlock = s.integer("hessian_block", 512, 128, 1 << 16);
        if (hessianBlock % 128 != 0) throw s.error("\"hessian_block\" must be a multiple of 128, got " + hessianBlock);
        keepSteps = s.integer("keep_steps", 8, 1, 1000);
        checkpointSeconds = s.number("checkpoint_seconds", 300.0, 0, 1e9);
        keepPrompts = s.integer("keep_prompts", 16, 1, 100_000);
        List<DType> formats = new ArrayList<>();
        for (String f : s.strings("formats", List.of("q4_32", "q4_64z", "q8", "f16"))) {
            DType t = FormatPlan.parseFormat(f);
            if (t == null || t == DType.F32 || t == DType.BF16) throw s.error("\"formats\": unknown or unplannable format \"" + f + "\"");
            if (!formats.contains(t)) formats.add(t);
        }
        Quantizer.Clip clip;
        Rounding rounding;
        Sensitivity.Measure measure;
        try {
            clip = Quantizer.Clip.parse(s.string("clip", "mse"));
            rounding = Rounding.parse(s.string("rounding", "nearest"));
            measure = Sensitivity.Measure.parse(s.string("measure", "all"));
        } catch (IllegalArgumentException e) {
            throw s.error(e.getMessage());
        }
        sensitivityBatch = s.integer("sensitivity_batch", 64, 1, 1 << 16);
        sensitivity = new Sensitivity.Settings(formats, clip, rounding, measure, sensitivityBatch);
    }

    @Override
    public String kind() {
        return "calibrate";
    }

    @Override
    public Effect effect() {
        return Effect.CALIBRATION;
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        SamplingDefaults d = SamplingDefaults.forModel(ctx.input());
        String set = prompts != null ? prompts : ctx.input().toString().contains("mini") ? "mini" : "general";
        List<String> all = CalibrationPrompts.named(set);
        int n = Math.min(all.size(), count != null ? count : set.equals("mini") ? 64 : 8);
        var settings = new Calibration.Settings(d.scheduler(), d.steps(), d.cfg(), d.cfgMaxTimestep(), width, height, seed, batch,
                hessianBlock, keepSteps, keepPrompts, set);
        Files.createDirectories(ctx.quantOut());
        Files.createDirectories(ctx.work());
        Path data = ctx.work().resolve(Calibration.FILE), table = ctx.work().resolve(Sensitivity.FILE);
        try (Checkpoint cp = Checkpoint.open(ctx.input(), null)) {
            if (!Files.isRegularFile(data)) { // else collected before a kill during the sensitivity
                Calibration.collect(cp, settings, CalibrationPrompts.spread(all, n), data, ctx.work().resolve(Calibration.FILE + ".partial"),
                        ctx.log(), checkpointSeconds);
            }
            try (Calibration c = Calibration.open(data)) {
                c.check(ModelIdentity.of(cp), d.scheduler(), d.steps());
                Sensitivity.measure(cp, c, sensitivity, table, ctx.log());
            }
        }
        Files.move(data, ctx.quantOut().resolve(Calibration.FILE));
        Files.move(table, ctx.quantOut().resolve(Sensitivity.FILE));
    }
}
