package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.scheduler.Schedulers;
import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.speedup.TokenMergeSettings;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sampling settings a model is best used with, taken when a request leaves them out: from the model folder's
 * {@code sampling_defaults.json} ({@code steps}, {@code cfg_scale}, {@code cfg_max_timestep}, {@code scheduler}, and the
 * speed-ups {@code token_merging_ratio}, {@code token_merging_max_downsample}, {@code deepcache_interval},
 * {@code deepcache_branch}; each optional), else the usual Stable Diffusion ones. A model trained here ships the
 * settings its evaluation chose, so its first image is not made at SD1.5's CFG 7.5; a compressed model ships the
 * speed-ups its compress recipe chose.
 */
public record SamplingDefaults(int steps, float cfg, int cfgMaxTimestep, String scheduler, SpeedUps speedUps) {
    public static final String FILE = "sampling_defaults.json";
    /** A cfg_max_timestep that guides every step: the 1000 training timesteps of SD's noise schedule. */
    public static final int ALL_TIMESTEPS = 1000;
    public static final SamplingDefaults STANDARD = new SamplingDefaults(20, 7.5f, ALL_TIMESTEPS, "euler_a");
    /** The keys the file may hold: those {@link #toJson} writes. */
    private static final java.util.Set<String> KEYS = new java.util.LinkedHashSet<>(java.util.List.of("steps", "cfg_scale",
            "cfg_max_timestep", "scheduler", "token_merging_ratio", "token_merging_max_downsample", "deepcache_interval", "deepcache_branch"));

    public SamplingDefaults {
        if (speedUps == null) speedUps = SpeedUps.NONE;
    }

    /** Defaults without speed-ups. */
    public SamplingDefaults(int steps, float cfg, int cfgMaxTimestep, String scheduler) {
        this(steps, cfg, cfgMaxTimestep, scheduler, SpeedUps.NONE);
    }

    /** The same defaults with these speed-ups. */
    public SamplingDefaults withSpeedUps(SpeedUps s) {
        return new SamplingDefaults(steps, cfg, cfgMaxTimestep, scheduler, s);
    }

    /**
     * The default speed-ups that fit a run of {@code runSteps} with {@code runScheduler} (a request may change both):
     * DeepCache is left out below its minimum steps and with LCM, where it cannot run.
     */
    public SpeedUps speedUpsFor(int runSteps, String runScheduler) {
        DeepCacheSettings d = speedUps.deepCache();
        if (d != null && (runSteps < DeepCacheSettings.MIN_STEPS || "lcm".equals(runScheduler))) return speedUps.withDeepCache(null);
        return speedUps;
    }

    /** The defaults of a model path: a diffusers folder's (see {@link #of}); a single file has {@link #STANDARD}. */
    public static SamplingDefaults forModel(Path model) {
        return Files.isDirectory(model) ? of(model) : STANDARD;
    }

    /** The defaults of a diffusers folder: its {@value #FILE}, or {@link #STANDARD} when it has none. */
    public static SamplingDefaults of(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        return Files.isRegularFile(file) ? parse(Config.read(file)) : STANDARD;
    }

    /**
     * From a parsed {@value #FILE} (or a recipe's copy of one); every field is checked with a one-line error, and a
     * key that is none of them (a misspelt "cfg_scal") is one too rather than a setting silently left at its default.
     */
    public static SamplingDefaults parse(Config c) {
        for (String key : c.values().keySet()) {
            if (!KEYS.contains(key)) throw bad(c, "unknown key \"" + key + "\" (known: " + String.join(", ", KEYS) + ")");
        }
        int steps = c.getInt("steps", STANDARD.steps);
        if (steps < 1 || steps > 1000) throw bad(c, "steps must be in 1..1000, got " + steps);
        double cfg = c.getDouble("cfg_scale", STANDARD.cfg);
        if (!(cfg >= 0 && cfg <= 100)) throw bad(c, "cfg_scale must be in 0..100, got " + cfg);
        int maxT = c.getInt("cfg_max_timestep", STANDARD.cfgMaxTimestep);
        if (maxT < 0 || maxT > ALL_TIMESTEPS) {
            throw bad(c, "cfg_max_timestep must be in 0.." + ALL_TIMESTEPS + ", got " + maxT);
        }
        String scheduler = c.getString("scheduler", STANDARD.scheduler);
        if (!Schedulers.NAMES.contains(scheduler)) throw bad(c, "scheduler must be one of " + Schedulers.NAMES + ", got '" + scheduler + "'");
        TokenMergeSettings tome = null;
        if (c.values().containsKey("token_merging_ratio")) {
            double ratio = c.getDouble("token_merging_ratio", 0);
            int maxDown = c.getInt("token_merging_max_downsample", 1);
            tome = new TokenMergeSettings(ratio, maxDown, false, false, true);
            try {
                tome.validate();
            } catch (IllegalArgumentException e) {
                throw bad(c, e.getMessage().replace("--tome-max-downsample", "token_merging_max_downsample").replace("--tome", "token_merging_ratio"));
            }
        } else if (c.values().containsKey("token_merging_max_downsample")) {
            throw bad(c, "token_merging_max_downsample needs token_merging_ratio");
        }
        DeepCacheSettings cache = null;
        if (c.values().containsKey("deepcache_interval")) {
            cache = new DeepCacheSettings(c.getInt("deepcache_interval", 0), c.getInt("deepcache_branch", 0));
            try {
                cache.validate(DeepCacheSettings.MIN_STEPS, null);
            } catch (IllegalArgumentException e) {
                throw bad(c, "deepcache_interval/deepcache_branch: " + e.getMessage());
            }
        } else if (c.values().containsKey("deepcache_branch")) {
            throw bad(c, "deepcache_branch needs deepcache_interval");
        }
        return new SamplingDefaults(steps, (float) cfg, maxT, scheduler, new SpeedUps(tome, cache));
    }

    /** The {@value #FILE} form. */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("steps", steps);
        m.put("cfg_scale", (double) cfg);
        m.put("cfg_max_timestep", cfgMaxTimestep);
        m.put("scheduler", scheduler);
        TokenMergeSettings tome = speedUps.tokenMerge();
        if (tome != null) {
            m.put("token_merging_ratio", tome.ratio());
            if (tome.maxDownsample() != 1) m.put("token_merging_max_downsample", tome.maxDownsample());
        }
        if (speedUps.deepCache() != null) {
            m.put("deepcache_interval", speedUps.deepCache().interval());
            m.put("deepcache_branch", speedUps.deepCache().branch());
        }
        return m;
    }

    private static ModelFormatException bad(Config c, String what) {
        return new ModelFormatException(c.source() + ": " + what);
    }
}
