package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.Conv2d;
import dev.edgediffuse.kernels.ConvGrad;
import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.kernels.WeightPanels;
import dev.edgediffuse.tensor.FeatureMap;

/** A 2-D convolution layer with bias (PyTorch weight layout [out][in][kh][kw]) on channels-last maps. */
public final class Conv {
    private final WeightPanels weight;
    private final float[] bias;
    /** The weight's own heap array when it is trainable, else null. */
    private final float[] trainableWeight;
    public final int in, out, kernel, stride;
    private final int[] pads;

    /** Symmetric padding, as nn.Conv2d(padding=p). */
    public Conv(Weights w, String name, int in, int out, int kernel, int stride, int padding) {
        this(w, name, in, out, kernel, stride, new int[]{padding, padding, padding, padding});
    }

    /** pads = top, bottom, left, right. */
    public Conv(Weights w, String name, int in, int out, int kernel, int stride, int[] pads) {
        this(w, name, in, out, kernel, stride, pads, true);
    }

    /** A convolution the architecture defines without bias (bias=False in PyTorch). */
    public static Conv withoutBias(Weights w, String name, int in, int out, int kernel, int stride, int padding) {
        return new Conv(w, name, in, out, kernel, stride, new int[]{padding, padding, padding, padding}, false);
    }

    private Conv(Weights w, String name, int in, int out, int kernel, int stride, int[] pads, boolean hasBias) {
        this.weight = new WeightPanels(w.get(name + ".weight", out, in, kernel, kernel));
        this.bias = hasBias ? w.floats(name + ".bias", out) : null;
        this.trainableWeight = weight.weight().heapArray();
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.pads = pads.clone();
    }

    /**
     * conv(norm(x)), SiLU between when {@code silu}: the norm is applied as the convolution reads x, so the
     * normalized map is never stored. While a {@link Tape} records, the two layers run one after the other.
     */
    public FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
        if (Tape.recording()) return forward(norm.forward(x, silu));
        return run(x, Conv2d.Prologue.normalize(norm.affine(x), silu));
    }

    /** conv(nearest 2× upsampling of x) without storing the upsampled map (unfused while a {@link Tape} records). */
    public FeatureMap forwardUpsampled(FeatureMap x) {
        if (Tape.recording()) return forward(Ops.upsample2x(x));
        return run(x, Conv2d.Prologue.UPSAMPLE_2X);
    }

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
