package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.Gemm;
import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.kernels.WeightPanels;
import dev.edgediffuse.tensor.Buffers;

/** The plain layer: y = x·Wᵀ + b over rows of x; W stays in its mapped storage and is packed per call. */
public final class DenseLinear implements Linear {
    private final WeightPanels weight;
    private final float[] bias;
    /** The weight's own heap array when it is trainable, else null. */
    private final float[] trainableWeight;
    private final int in, out;

    public DenseLinear(Weights w, String name, int in, int out, boolean bias) {
        this.weight = new WeightPanels(w.getSqueezable(name + ".weight", out, in));
        this.bias = bias ? w.floats(name + ".bias", out) : null;
        this.trainableWeight = weight.weight().heapArray();
        this.in = in;
        this.out = out;
    }

    @Override
    public int in() {
        return in;
    }

    @Override
    public int out() {
        return out;
    }

    @Override
    public float[] forward(float[] x, int rows) {
        float[] y = Buffers.take(rows * out);
        Gemm.multiply(x, 0, in, rows, weight, bias, y, 0, out);
        Tape.record(y, (t, dy) -> {
            if (t.needs(x)) t.accumulateFresh(x, Matmul.nn(dy, rows, out, weightValues(), in));
            if (t.needs(trainableWeight)) t.accumulateFresh(trainableWeight, Matmul.tn(dy, rows, out, x, in));
            if (t.needs(bias)) t.accumulateFresh(bias, Matmul.columnSums(dy, rows, out));
        }, x, trainableWeight, bias);
        return y;
    }

    @Override
    public float[] forwardRows(float[] x, int firstRow, int rows) {
        if (Tape.recording()) throw new IllegalStateException("forwardRows is not differentiable; use forward while recording");
        float[] y = Buffers.take(rows * out);
        Gemm.multiply(x, firstRow * in, in, rows, weight, bias, y, 0, out);
        return y;
    }

    private float[] weightValues() {
        return trainableWeight != null ? trainableWeight : weight.weight().toFloats();
    }
}
