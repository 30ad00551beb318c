package dev.edgediffuse.model.vae;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * TAESD's block: relu(conv.4(relu(conv.2(relu(conv.0(x))))) + skip(x)), skip a bias-free 1×1 conv when channels change;
 * differentiable (a tiny decoder trains through it).
 */
final class TinyBlock {
    private final Conv c0, c2, c4, skip;

    TinyBlock(Weights w, int in, int out) {
        c0 = Conv.of(w, "conv.0", in, out, 3, 1, 1);
        c2 = Conv.of(w, "conv.2", out, out, 3, 1, 1);
        c4 = Conv.of(w, "conv.4", out, out, 3, 1, 1);
        skip = in != out ? Conv.withoutBias(w, "skip", in, out, 1, 1, 0) : null;
    }

    FeatureMap forward(FeatureMap x) {
        FeatureMap h = c4.forward(relu(c2.forward(relu(c0.forward(x)))));
        return h.with(Ops.relu(Ops.add(h.data(), (skip == null ? x : skip.forward(x)).data())));
    }

    static FeatureMap relu(FeatureMap x) {
        return x.with(Ops.relu(x.data()));
    }
}
