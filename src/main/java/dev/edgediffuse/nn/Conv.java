package dev.edgediffuse.nn;

import dev.edgediffuse.tensor.FeatureMap;

/**
 * A 2-D convolution on channels-last maps (PyTorch weight layout [out][in][kh][kw]) as model code sees it; created
 * through the component's {@link LayerPolicy} like {@link Linear}.
 */
public interface Conv {
    int in();

    int out();

    int kernel();

    int stride();

    /** Padding: top, bottom, left, right. */
    int[] pads();

    FeatureMap forward(FeatureMap x);

    /** conv(norm(x)), SiLU between when {@code silu}: implementations may fuse the norm into the convolution's read. */
    default FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
        return forward(norm.forward(x, silu));
    }

    /** conv(nearest 2× upsampling of x): implementations may upsample as they read. */
    default FeatureMap forwardUpsampled(FeatureMap x) {
        return forward(Ops.upsample2x(x));
    }

    /** Symmetric padding, as nn.Conv2d(padding=p), with bias. */
    static Conv of(Weights w, String name, int in, int out, int kernel, int stride, int padding) {
        return of(w, name, in, out, kernel, stride, new int[]{padding, padding, padding, padding}, true);
    }

    /** pads = top, bottom, left, right; with bias. */
    static Conv of(Weights w, String name, int in, int out, int kernel, int stride, int[] pads) {
        return of(w, name, in, out, kernel, stride, pads, true);
    }

    static Conv of(Weights w, String name, int in, int out, int kernel, int stride, int[] pads, boolean bias) {
        return w.policy().conv(w, new LayerPolicy.ConvSpec(w.path(name), name, in, out, kernel, stride, pads.clone(), bias));
    }

    /** A convolution the architecture defines without bias (bias=False in PyTorch). */
    static Conv withoutBias(Weights w, String name, int in, int out, int kernel, int stride, int padding) {
        return of(w, name, in, out, kernel, stride, new int[]{padding, padding, padding, padding}, false);
    }
}
