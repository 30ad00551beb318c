package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.Conv2d;
import dev.edgediffuse.kernels.ConvGrad;
import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.kernels.WeightPanels;
import dev.edgediffuse.tensor.FeatureMap;

/** The plain 2-D convolution (PyTorch weight layout [out][in][kh][kw], optional bias) on channels-last maps. */
public final class DenseConv implements Conv {
    private final WeightPanels weight;
    private final float[] bias;
    /** The weight's own heap array when it is trainable, else null. */
    private final float[] trainableWeight;
    private final int in, out, kernel, stride;
    private final int[] pads;

    /** pads = top, bottom, left, right. */
    public DenseConv(Weights w, String name, int in, int out, int kernel, int stride, int[] pads, boolean hasBias) {
        this.weight = new WeightPanels(w.get(name + ".weight", out, in, kernel, kernel));
        this.bias = hasBias ? w.floats(name + ".bias", out) : null;
        this.trainableWeight = weight.weight().heapArray();
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.pads = pads.clone();
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
    public int kernel() {
        return kernel;
    }

    @Override
    public int stride() {
        return stride;
    }

    @Override
    public int[] pads() {
        return pads.clone();
    }

    /** The norm is applied as the convolution reads x, so the normalized map is never stored. */
    @Override
    public FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
        if (Tape.recording()) return forward(norm.forward(x, silu));
        return run(x, Conv2d.Prologue.normalize(norm.affine(x), silu));
    }

    /** Upsamples as the convolution reads x, so the upsampled map is never stored. */
    @Override
    public FeatureMap forwardUpsampled(FeatureMap x) {
        if (Tape.recording()) return forward(Ops.upsample2x(x));
        return run(x, Conv2d.Prologue.UPSAMPLE_2X);
    }

    @Override
    public FeatureMap forward(FeatureMap x) {
        FeatureMap y = run(x, Conv2d.Prologue.NONE);
        Tape.record(y.data(), (t, dy) -> {
            var shape = new ConvGrad.Shape(x.batch(), x.height(), x.width(), in, out, kernel, stride, pads);
            if (t.needs(x.data())) {
                float[] w = trainableWeight != null ? trainableWeight : weight.weight().toFloats();
                t.accumulateFresh(x.data(), ConvGrad.inputGrad(dy, w, shape));
            }
            if (t.needs(trainableWeight)) t.accumulateFresh(trainableWeight, ConvGrad.weightGrad(x.data(), dy, shape));
            if (t.needs(bias)) t.accumulateFresh(bias, Matmul.columnSums(dy, y.batch() * y.pixels(), out));
        }, x.data(), trainableWeight, bias);
        return y;
    }

    private FeatureMap run(FeatureMap x, Conv2d.Prologue prologue) {
        if (x.channels() != in) throw new IllegalArgumentException("conv expects " + in + " channels, got " + x.channels());
        int up = prologue.upsample();
        int oh = (x.height() * up + pads[0] + pads[1] - kernel) / stride + 1;
        int ow = (x.width() * up + pads[2] + pads[3] - kernel) / stride + 1;
        float[] y = Conv2d.conv(x.data(), x.batch(), x.height(), x.width(), in, weight, kernel, kernel, stride, pads, bias, prologue);
        return new FeatureMap(y, x.batch(), oh, ow, out);
    }
}
