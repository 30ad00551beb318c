package dev.edgediffuse.nn;

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
        return Norms.layerNorm(x, rows, channels, eps, gamma, beta);
    }
}
