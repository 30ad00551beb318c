package dev.edgediffuse.model;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.Weights;

/** Layer construction shared by the VAEs: convolutions whose bias is required (nn.Conv takes a bias only if present). */
final class Layers {
    private Layers() {}

    /** A conv with symmetric padding and a required bias; a missing bias fails naming the tensor. */
    static Conv conv(Weights w, String name, int in, int out, int kernel, int stride, int padding) {
        return conv(w, name, in, out, kernel, stride, new int[]{padding, padding, padding, padding});
    }

    /** pads = top, bottom, left, right. */
    static Conv conv(Weights w, String name, int in, int out, int kernel, int stride, int[] pads) {
        w.get(name + ".bias", out);
        return new Conv(w, name, in, out, kernel, stride, pads);
    }
}
