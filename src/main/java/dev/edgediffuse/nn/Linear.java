package dev.edgediffuse.nn;

/**
 * A linear layer, y = x·Wᵀ (+ b) over rows of x, as model code sees it. Model code creates layers with
 * {@link #of}, which asks the component's {@link LayerPolicy}: a compression pass decides, per layer name, whether
 * the layer is plain ({@link DenseLinear}), carries a low-rank branch ({@link LowRankLinear}: LoRA, a quantized
 * weight plus a 16-bit correction), simulates quantization, or observes its inputs — without model code knowing.
 */
public interface Linear {
    int in();

    int out();

    /** x is [rows][in]; returns [rows][out]. Differentiable while a tape records. */
    float[] forward(float[] x, int rows);

    /** Rows [firstRow, firstRow + rows) of x without copying them out; inference only (nothing is recorded). */
    float[] forwardRows(float[] x, int firstRow, int rows);

    /** The layer {@code name} (relative to {@code w}'s scope) as the weights' layer policy builds it. */
    static Linear of(Weights w, String name, int in, int out, boolean bias) {
        return w.policy().linear(w, new LayerPolicy.LinearSpec(w.path(name), name, in, out, bias));
    }
}
