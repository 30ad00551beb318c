package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.scheduler.Schedulers;
import picocli.CommandLine.Option;

import java.util.Iterator;

/**
 * How a model samples: steps, guidance and scheduler. What is left out comes from the model folder's
 * sampling_defaults.json where it has one (the built-in models do), else SD's usual 20 steps, CFG 7.5 and euler_a.
 */
final class SamplingOptions {
    // text, not a number: a hybrid run also takes --steps K,M (K steps on the server, M here)
    @Option(names = "--steps", paramLabel = "N", description = "denoising steps (default: the model's sampling defaults, else 20)")
    private String steps;

    @Option(names = "--cfg", paramLabel = "X",
            description = "classifier-free guidance scale; <= 1 disables guidance (default: the model's, else 7.5)")
    private String cfg; // text, so an out-of-range value is reported as given (1e308 is no float: it became "Infinity")

    @Option(names = "--cfg-max-timestep", paramLabel = "T", description = "guide only the steps at timesteps <= T of 1000; the "
            + "noisier steps use the prompt alone and skip the unconditional UNet pass (default: the model's, else 1000: all)")
    private Integer cfgMaxTimestep;

    @Option(names = "--scheduler", paramLabel = "NAME", completionCandidates = SchedulerNames.class,
            description = "${COMPLETION-CANDIDATES} (default: the model's, else euler_a)")
    private String scheduler;

    @Option(names = "--negative-prompt", paramLabel = "TEXT", defaultValue = "", description = "what the images should not show")
    private String negativePrompt;

    /** --steps as given (N, or K,M for a hybrid run), or null. */
    String stepsGiven() {
        return steps;
    }

    int steps(SamplingDefaults d) {
        if (steps == null) return d.steps();
        try {
            return Integer.parseInt(steps.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("--steps must be an integer, got '" + steps + "'" + (steps.contains(",") ? " (K,M is for generate --hybrid)" : ""));
        }
    }

    /** Checks what was given before anything loads. */
    void check() {
        if (cfg != null) cfg(SamplingDefaults.STANDARD);
    }

    float cfg(SamplingDefaults d) {
        if (cfg == null) return d.cfg();
        double v;
        try {
            v = Double.parseDouble(cfg.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("--cfg must be a number, got '" + cfg + "'");
        }
        if (!(v >= 0) || v > 1000) throw new UsageException("--cfg must be a number in [0, 1000], got " + cfg.trim());
        return (float) v;
    }

    int cfgMaxTimestep(SamplingDefaults d) {
        return cfgMaxTimestep != null ? cfgMaxTimestep : d.cfgMaxTimestep();
    }

    String scheduler(SamplingDefaults d) {
        return scheduler != null ? scheduler : d.scheduler();
    }

    String negativePrompt() {
        return negativePrompt;
    }

    /** The schedulers' names, for help texts and shell completion. */
    static final class SchedulerNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Schedulers.NAMES.iterator();
        }
    }
}
