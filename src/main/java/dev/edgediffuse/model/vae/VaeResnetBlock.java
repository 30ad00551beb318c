package dev.edgediffuse.model.vae;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * The VAE's residual block (no time embedding): norm1→SiLU→conv1→norm2→SiLU→conv2, plus the input, which goes
 * through a 1×1 {@code conv_shortcut} when the channel count changes.
 */
final class VaeResnetBlock {
    static final double EPS = 1e-6;

    private final GroupNorm norm1, norm2;
    private final Conv conv1, conv2, shortcut;

    VaeResnetBlock(Weights w, int in, int out, int groups) {
        norm1 = new GroupNorm(w, "norm1", in, groups, EPS);
        conv1 = Conv.of(w, "conv1", in, out, 3, 1, 1);
        norm2 = new GroupNorm(w, "norm2", out, groups, EPS);
        conv2 = Conv.of(w, "conv2", out, out, 3, 1, 1);
        shortcut = in != out ? Conv.of(w, "conv_shortcut", in, out, 1, 1, 0) : null;
    }

    FeatureMap forward(FeatureMap x) {
        FeatureMap h = conv1.forward(norm1, true, x);
        h = conv2.forward(norm2, true, h);
        FeatureMap skip = shortcut == null ? x : shortcut.forward(x);
        return h.with(Ops.add(h.data(), skip.data()));
    }
}
