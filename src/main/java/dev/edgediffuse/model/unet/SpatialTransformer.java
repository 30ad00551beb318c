package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * diffusers' Transformer2DModel over a feature map: GroupNorm (eps 1e-6) → proj_in → transformer blocks on the
 * h·w pixel tokens → proj_out → + input. On a channels-last map the 1×1-conv projections of SD1 and the linear ones
 * of SD2 (use_linear_projection) are the same per-pixel matrix product, so both load as Linear.
 */
final class SpatialTransformer {
    private static final double NORM_EPS = 1e-6;
    private final GroupNorm norm;
    private final Linear projIn, projOut;
    private final TransformerBlock[] blocks;

    SpatialTransformer(Weights w, int channels, BlockShape shape) {
        this.norm = new GroupNorm(w, "norm", channels, shape.groups(), NORM_EPS);
        this.projIn = Linear.of(w, "proj_in", channels, channels, true);
        this.blocks = new TransformerBlock[shape.transformerLayers()];
        for (int k = 0; k < blocks.length; k++) {
            blocks[k] = new TransformerBlock(w.scope("transformer_blocks." + k), channels, shape.contextDim(), shape.heads(), shape.widths());
        }
        this.projOut = Linear.of(w, "proj_out", channels, channels, true);
    }

    FeatureMap forward(FeatureMap x, Conditioning cond) {
        int rows = x.batch() * x.pixels();
        float[] normed = norm.forward(x, false).data();
        float[] h = projIn.forward(normed, rows);
        Buffers.give(normed);
        for (TransformerBlock block : blocks) h = block.forward(h, x.batch(), x.height(), x.width(), cond);
        float[] out = projOut.forward(h, rows);
        Buffers.give(h);
        return x.with(Ops.add(out, x.data()));
    }
}
