package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * diffusers' ResnetBlock2D: GroupNorm+SiLU → 3×3 conv → + projected SiLU(time embedding) → GroupNorm+SiLU → 3×3 conv,
 * added to the input (through a 1×1 conv_shortcut when the channel count changes). A pruned block has fewer inner
 * channels (conv1's outputs, norm2, conv2's inputs; see {@link PrunedWidths}).
 */
final class ResnetBlock {
    private final GroupNorm norm1, norm2;
    private final Conv conv1, conv2;
    private final Linear timeEmbProj;
    private final Linear shortcut;
    final int in, out;

    ResnetBlock(Weights w, int in, int out, BlockShape shape) {
        this.in = in;
        this.out = out;
        int groups = shape.groups(), inner = shape.widths().resnetInner(w, out, groups);
        this.norm1 = new GroupNorm(w, "norm1", in, groups, shape.eps());
        this.conv1 = Conv.of(w, "conv1", in, inner, 3, 1, 1);
        this.timeEmbProj = Linear.of(w, "time_emb_proj", shape.timeDim(), inner, true);
        this.norm2 = new GroupNorm(w, "norm2", inner, groups, shape.eps());
        this.conv2 = Conv.of(w, "conv2", inner, out, 3, 1, 1);
        this.shortcut = in != out ? Linear.of(w, "conv_shortcut", in, out, true) : null;
    }

    /** @param siluTemb SiLU of the time embedding, [batch][timeDim] */
    FeatureMap forward(FeatureMap x, float[] siluTemb) {
        FeatureMap h1 = Ops.addPerBatch(conv1.forward(norm1, true, x), timeEmbProj.forward(siluTemb, x.batch()));
        FeatureMap h = conv2.forward(norm2, true, h1);
        Buffers.give(h1.data());
        if (shortcut == null) return h.with(Ops.add(h.data(), x.data()));
        float[] skip = shortcut.forward(x.data(), x.batch() * x.pixels());
        float[] out = Ops.add(h.data(), skip);
        Buffers.give(skip);
        return h.with(out);
    }
}
