package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.scheduler.Schedulers;
import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.speedup.TokenMergeSettings;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * speedups: sampling settings written into the model's sampling defaults, which generate, grid, eval and serve apply
 * when a run leaves them out: {@code tome} (token merging ratio), {@code tome_max_downsample}, {@code deepcache}
 * (interval) and {@code deepcache_branch}, {@code steps}, {@code scheduler}, {@code cfg}, {@code cfg_max_timestep}.
 * The weights are not copied: the new folder links to its input's files.
 */
final class SpeedupsStage implements Stage {
    private final Double tome;
    private final int maxDownsample;
    private final Integer deepcache, branch, steps, cfgMaxTimestep;
    private final String scheduler;
    private final Double cfg;

    SpeedupsStage(StageSpec s) {
        tome = s.number("tome", null, 0, 0.99);
        Integer down = s.integer("tome_max_downsample", tome == null ? null : 1, 1, 8);
        if (tome == null && down != null) throw s.error("\"tome_max_downsample\" needs \"tome\"");
        maxDownsample = down == null ? 1 : down;
        if (Integer.bitCount(maxDownsample) != 1) throw s.error("\"tome_max_downsample\" must be 1, 2, 4 or 8, got " + maxDownsample);
        deepcache = s.integer("deepcache", null, 2, 1000);
        branch = s.integer("deepcache_branch", null, 0, 100);
        if (branch != null && deepcache == null) throw s.error("\"deepcache_branch\" needs \"deepcache\"");
        steps = s.integer("steps", null, 1, 1000);
        scheduler = s.string("scheduler", null);
        if (scheduler != null && !Schedulers.NAMES.contains(scheduler)) throw s.error("\"scheduler\" must be one of " + Schedulers.NAMES + ", got \"" + scheduler + "\"");
        cfg = s.number("cfg", null, 0, 100);
        cfgMaxTimestep = s.integer("cfg_max_timestep", null, 0, SamplingDefaults.ALL_TIMESTEPS);
        if (deepcache != null && steps != null && steps < DeepCacheSettings.MIN_STEPS) {
            throw s.error("\"deepcache\" needs at least " + DeepCacheSettings.MIN_STEPS + " steps, got \"steps\": " + steps);
        }
        if (deepcache != null && "lcm".equals(scheduler)) throw s.error("\"deepcache\" does not apply to the lcm scheduler");
        if (tome == null && deepcache == null && steps == null && scheduler == null && cfg == null && cfgMaxTimestep == null) {
            throw s.error("sets nothing (give tome, deepcache, steps, scheduler, cfg or cfg_max_timestep)");
        }
    }

    @Override
    public String kind() {
        return "speedups";
    }

    @Override
    public Effect effect() {
        return Effect.SAMPLING;
    }

    @Override
    public boolean changesSampling() {
        return steps != null || scheduler != null;
    }

    /** The input's defaults with this stage's settings; DeepCache checked against the resulting steps and scheduler. */
    SamplingDefaults apply(SamplingDefaults d) {
        SpeedUps ups = d.speedUps();
        if (tome != null) ups = ups.withTokenMerge(tome > 0 ? new TokenMergeSettings(tome, maxDownsample, false, false, true) : null);
        if (deepcache != null) ups = ups.withDeepCache(new DeepCacheSettings(deepcache, branch == null ? 0 : branch));
        SamplingDefaults out = new SamplingDefaults(steps != null ? steps : d.steps(), cfg != null ? cfg.floatValue() : d.cfg(),
                cfgMaxTimestep != null ? cfgMaxTimestep : d.cfgMaxTimestep(), scheduler != null ? scheduler : d.scheduler(), ups);
        out.speedUps().validate(out.steps(), out.scheduler());
        return out;
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        if (!Files.isDirectory(ctx.input())) throw new IllegalArgumentException("speedups: " + ctx.input() + " is not a model folder");
        SamplingDefaults d = apply(SamplingDefaults.forModel(ctx.input()));
        Path out = ctx.modelOut();
        ModelFolders.linkTree(ctx.input(), out);
        Files.deleteIfExists(out.resolve(SamplingDefaults.FILE));
        AtomicFiles.write(out.resolve(SamplingDefaults.FILE), Json.write(d.toJson()).getBytes(StandardCharsets.UTF_8));
    }
}
