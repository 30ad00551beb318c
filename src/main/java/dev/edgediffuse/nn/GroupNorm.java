package dev.edgediffuse.nn;

import dev.edgediffuse.kernels.Norms;

/** GroupNorm with affine parameters, optionally followed by SiLU in the same pass. */
public final class GroupNorm {
    private final float[] gamma, beta;
    private final int groups;
    private final float eps;

    public GroupNorm(Weights w, String name, int channels, int groups, double eps) {
        this.gamma = w.floats(name + ".weight", channels);
        this.beta = w.floats(name + ".bias", channels);
        this.groups = groups;
        this.eps = (float) eps;
    }

    public FeatureMap forward(FeatureMap x, boolean silu) {
        return x.with(Norms.groupNorm(x.data(), x.batch(), x.pixels(), x.channels(), groups, eps, gamma, beta, silu));
    }
}
