package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Creates schedulers by name from a model's scheduler_config.json. */
public final class Schedulers {
    public static final List<String> NAMES = List.of("ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm");

    private Schedulers() {}

    /**
     * A scheduler configured as the diffusers Stable Diffusion pipeline would configure it from this config: the
     * pipeline forces steps_offset = 1 and clip_sample = false (see {@link #withPipelineOverrides}); keys the config
     * lacks take the chosen scheduler's own defaults (e.g. timestep_spacing: leading for ddim and lcm, linspace for
     * the others).
     */
    public static Scheduler create(String name, Config schedulerConfig) {
        Config c = withPipelineOverrides(schedulerConfig);
        return switch (name) {
            case "ddim" -> new DdimScheduler(c);
            case "euler" -> new EulerDiscreteScheduler(c);
            case "euler_a" -> new EulerAncestralScheduler(c);
            case "dpmpp_2m" -> new DpmSolverMultistepScheduler(c, false);
            case "dpmpp_2m_karras" -> new DpmSolverMultistepScheduler(c, true);
            case "lcm" -> new LcmScheduler(c);
            default -> throw new IllegalArgumentException("unknown scheduler \"" + name + "\"; valid names: "
                    + String.join(", ", NAMES));
        };
    }

    /** The config with steps_offset = 1 and clip_sample = false, as StableDiffusionPipeline rewrites old configs. */
    public static Config withPipelineOverrides(Config c) {
        Map<String, Object> v = new LinkedHashMap<>(c.values());
        v.put("steps_offset", 1);
        v.put("clip_sample", false);
        return new Config(c.source(), v);
    }
}
