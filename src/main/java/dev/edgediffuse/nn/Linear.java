package dev.edgediffuse.nn;

import dev.edgediffuse.kernels.Gemm;
import dev.edgediffuse.kernels.WeightPanels;

/** y = x·Wᵀ + b over rows of x; W stays in its mapped storage and is packed per call. */
public final class Linear {
    private final WeightPanels weight;
    private final float[] bias;
    public final int in, out;

    public Linear(Weights w, String name, int in, int out, boolean bias) {
        this.weight = new WeightPanels(w.getSqueezable(name + ".weight", out, in));
        this.bias = bias ? w.floats(name + ".bias", out) : null;
        this.in = in;
        this.out = out;
    }

    /** x is [rows][in]; returns [rows][out]. */
    public float[] forward(float[] x, int rows) {
        float[] y = new float[rows * out];
        Gemm.multiply(x, 0, in, rows, weight, bias, y, 0, out);
        return y;
    }
}
