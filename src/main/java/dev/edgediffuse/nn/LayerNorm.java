package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.NormGrad;
import dev.edgediffuse.kernels.Norms;

/** LayerNorm over the last dimension. */
public final class LayerNorm {
    private final float[] gamma, beta;
    private final int channels;
    private final float eps;

    public LayerNorm(Weights w, String name, int channels, double eps) {
        this.gamma = w.floats(name + ".weight", channels);
        this.beta = w.floats(name + ".bias", channels);
        this.channels = channels;
        this.eps = (float) eps;
    }

    public float[] forward(float[] x, int rows) {
        float[] y = Norms.layerNorm(x, rows, channels, eps, gamma, beta);
        Tape.record(y, (t, dy) -> {
            float[] dGamma = t.needs(gamma) ? new float[gamma.length] : null;
            float[] dBeta = t.needs(beta) ? new float[beta.length] : null;
            t.accumulateFresh(x, NormGrad.layerNorm(x, dy, rows, channels, eps, gamma, t.needs(x), dGamma, dBeta));
            t.accumulateFresh(gamma, dGamma);
            t.accumulateFresh(beta, dBeta);
        }, x, gamma, beta);
        return y;
    }
}
