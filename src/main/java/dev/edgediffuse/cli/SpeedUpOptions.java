package dev.edgediffuse.cli;

import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.speedup.TokenMergeSettings;
import picocli.CommandLine.Option;

/**
 * The training-free speed-ups: token merging (tomesd) and DeepCache. Settings that depend on the run (DeepCache's
 * minimum steps, its scheduler, its branch against the model) are checked when the run starts.
 */
final class SpeedUpOptions {
    @Option(names = "--tome", paramLabel = "RATIO", description = "token merging (tomesd): merge this share of the tokens of "
            + "each full-resolution transformer block before its self-attention, in [0, 1) (0.3-0.5 usual; default: off)")
    private Double tome;

    @Option(names = "--tome-max-downsample", paramLabel = "N", description = "token merging also in blocks downsampled up to "
            + "N times: 1, 2, 4 or 8 (default 1: full resolution only)")
    private Integer maxDownsample;

    @Option(names = "--tome-cross-attention", description = "token merging also before cross-attention")
    private boolean crossAttention;

    @Option(names = "--tome-feed-forward", description = "token merging also before the feed-forward")
    private boolean feedForward;

    @Option(names = "--tome-fixed-partition", description = "each 2x2 cell's top-left token is its destination (default: "
            + "one drawn per session, step and block)")
    private boolean fixedPartition;

    @Option(names = "--deepcache", paramLabel = "N[,BRANCH]", description = "DeepCache: the full UNet every N-th step, the "
            + "steps between run only the layers above skip branch BRANCH (default 0, the shallowest) on the cached deep "
            + "feature; needs >= 10 steps, not with lcm")
    private String deepcache;

    /**
     * The options over the model's default speed-ups ({@code sampling_defaults.json}, e.g. from a compress recipe): each
     * one given replaces the default of its kind; defaults that cannot run at these steps/scheduler are left out.
     */
    SpeedUps speedUps(dev.edgediffuse.checkpoint.SamplingDefaults d, int steps, String scheduler) {
        SpeedUps given = speedUps();
        SpeedUps base = d.speedUpsFor(steps, scheduler);
        return new SpeedUps(tome != null ? given.tokenMerge() : base.tokenMerge(), deepcache != null ? given.deepCache() : base.deepCache());
    }

    SpeedUps speedUps() {
        TokenMergeSettings t = null;
        if (tome != null) {
            t = new TokenMergeSettings(tome, maxDownsample == null ? 1 : maxDownsample, crossAttention, feedForward, !fixedPartition);
            try {
                t.validate();
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        } else if (maxDownsample != null || crossAttention || feedForward || fixedPartition) {
            throw new UsageException("--tome-max-downsample, --tome-cross-attention, --tome-feed-forward and --tome-fixed-partition need --tome RATIO");
        }
        return new SpeedUps(t, deepcache == null ? null : parseDeepCache(deepcache));
    }

    static DeepCacheSettings parseDeepCache(String s) {
        String[] parts = s.split(",", -1);
        try {
            if (parts.length > 2) throw new NumberFormatException();
            DeepCacheSettings d = new DeepCacheSettings(Integer.parseInt(parts[0].trim()), parts.length == 2 ? Integer.parseInt(parts[1].trim()) : 0);
            d.validate(DeepCacheSettings.MIN_STEPS, null); // the interval and branch; steps and scheduler when the run starts
            return d;
        } catch (NumberFormatException e) {
            throw new UsageException("--deepcache must be N or N,BRANCH with integers, got '" + s + "'");
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
