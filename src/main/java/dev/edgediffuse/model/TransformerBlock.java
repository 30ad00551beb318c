package dev.edgediffuse.model;

import dev.edgediffuse.nn.LayerNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;

/**
 * diffusers' BasicTransformerBlock: pre-LayerNorm self-attention, cross-attention on the text context and a GEGLU
 * feed-forward (ff.net.0.proj to 8·C split into value and gate, ff.net.2 back to C), each added to the stream.
 */
final class TransformerBlock {
    private static final double LAYER_NORM_EPS = 1e-5;
    private final LayerNorm norm1, norm2, norm3;
    private final CrossAttention selfAttention, crossAttention;
    private final Linear ffIn, ffOut;
    private final int channels, ffInner;

    TransformerBlock(Weights w, int channels, int contextDim, int heads) {
        this.channels = channels;
        this.ffInner = 4 * channels;
        this.norm1 = new LayerNorm(w, "norm1", channels, LAYER_NORM_EPS);
        this.selfAttention = new CrossAttention(w.scope("attn1"), channels, channels, heads);
        this.norm2 = new LayerNorm(w, "norm2", channels, LAYER_NORM_EPS);
        this.crossAttention = new CrossAttention(w.scope("attn2"), channels, contextDim, heads);
        this.norm3 = new LayerNorm(w, "norm3", channels, LAYER_NORM_EPS);
        this.ffIn = new Linear(w, "ff.net.0.proj", channels, 2 * ffInner, true);
        this.ffOut = new Linear(w, "ff.net.2", ffInner, channels, true);
    }

    /** x [batch][tokens][channels] → the updated stream (x itself when not recording gradients). */
    float[] forward(float[] x, int batch, int tokens, float[] context, int contextTokens) {
        int rows = batch * tokens;
        float[] n = norm1.forward(x, rows);
        x = Ops.add(x, selfAttention.forward(n, batch, tokens, n, tokens));
        n = norm2.forward(x, rows);
        x = Ops.add(x, crossAttention.forward(n, batch, tokens, context, contextTokens));
        n = norm3.forward(x, rows);
        float[] hidden = Ops.geglu(ffIn.forward(n, rows), rows, ffInner);
        return Ops.add(x, ffOut.forward(hidden, rows));
    }
}
