package dev.edgediffuse.speedup;

/**
 * DeepCache's uniform schedule (Ma, Fang and Wang 2023): a full UNet call every {@code interval}-th step stores the
 * high-level feature entering the up path at skip branch {@code branch}; the steps between run only the shallow
 * path (the down layers up to that branch, the up layers after it) on the stored feature.
 *
 * <p>Branches are numbered as DeepCacheSDHelper's {@code cache_branch_id}: branch 0 is the shallowest skip
 * connection (conv_in's output, consumed by the last up layer), branch b the (b+1)-th skip connection from the
 * input, so the shallow path computes b + 1 skip connections ({@link #shallowSkips}). DeepCache's experimental SD
 * pipeline's {@code cache_layer_id=0, cache_block_id=0} (the paper's SD1.5 setting) is branch 1.
 */
public record DeepCacheSettings(int interval, int branch) {
    /** Fewer steps leave too few full calls to follow the trajectory (DeepCache degrades at low step counts). */
    public static final int MIN_STEPS = 10;

    public int shallowSkips() {
        return branch + 1;
    }

    /** Checks the values against a request's steps and scheduler; the message names the option. */
    public void validate(int steps, String scheduler) {
        if (interval < 2) throw new IllegalArgumentException("--deepcache N needs N >= 2 (a full call every N-th step), got " + interval);
        if (branch < 0) throw new IllegalArgumentException("--deepcache N,BRANCH needs BRANCH >= 0, got " + branch);
        if (steps < MIN_STEPS) {
            throw new IllegalArgumentException("--deepcache needs at least " + MIN_STEPS + " steps, got " + steps);
        }
        if ("lcm".equals(scheduler)) {
            throw new IllegalArgumentException("--deepcache does not apply to the lcm scheduler (a few-step model has no steps to skip)");
        }
    }

    String parametersText() {
        return "DeepCache interval: " + interval + ", DeepCache branch: " + branch;
    }
}
