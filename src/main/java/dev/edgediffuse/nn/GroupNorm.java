package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.NormGrad;
import dev.edgediffuse.kernels.Norms;
import dev.edgediffuse.tensor.FeatureMap;

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

    /** Per image and channel {scale, shift} ([batch][c] each): the normalized value is x·scale + shift. */
    public float[][] affine(FeatureMap x) {
        return Norms.groupNormAffine(x.data(), x.batch(), x.pixels(), x.channels(), groups, eps, gamma, beta);
    }

    public FeatureMap forward(FeatureMap x, boolean silu) {
        float[] y = Norms.groupNorm(x.data(), x.batch(), x.pixels(), x.channels(), groups, eps, gamma, beta, silu);
        Tape.record(y, (t, dy) -> {
            float[] dGamma = t.needs(gamma) ? new float[gamma.length] : null;
            float[] dBeta = t.needs(beta) ? new float[beta.length] : null;
            float[] dx = NormGrad.groupNorm(x.data(), dy, x.batch(), x.pixels(), x.channels(), groups, eps, gamma, beta,
                    silu, t.needs(x.data()), dGamma, dBeta);
            t.accumulateFresh(x.data(), dx);
            t.accumulateFresh(gamma, dGamma);
            t.accumulateFresh(beta, dBeta);
        }, x.data(), gamma, beta);
        return x.with(y);
    }
}
