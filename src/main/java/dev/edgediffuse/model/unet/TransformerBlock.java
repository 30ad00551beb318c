package dev.edgediffuse.model.unet;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.Activations;
import dev.edgediffuse.nn.LayerNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Buffers;

/**
 * diffusers' BasicTransformerBlock: pre-LayerNorm self-attention, cross-attention on the text context and a GEGLU
 * feed-forward (ff.net.0.proj to 8·C split into value and gate, ff.net.2 back to C), each added to the stream; a
 * pruned block has fewer heads or a narrower feed-forward ({@link PrunedWidths}).
 */
final class TransformerBlock {
    private static final double LAYER_NORM_EPS = 1e-5;
    private final LayerNorm norm1, norm2, norm3;
    private final CrossAttention selfAttention, crossAttention;
    private final Linear ffIn, ffOut;
    private final int channels, ffInner;

    TransformerBlock(Weights w, int channels, int contextDim, int heads, PrunedWidths widths) {
        this.channels = channels;
        this.ffInner = widths.ffInner(w.scope("ff"), 4 * channels);
        this.norm1 = new LayerNorm(w, "norm1", channels, LAYER_NORM_EPS);
        this.selfAttention = new CrossAttention(w.scope("attn1"), channels, channels, heads, widths);
        this.norm2 = new LayerNorm(w, "norm2", channels, LAYER_NORM_EPS);
        this.crossAttention = new CrossAttention(w.scope("attn2"), channels, contextDim, heads, widths);
        this.norm3 = new LayerNorm(w, "norm3", channels, LAYER_NORM_EPS);
        this.ffIn = Linear.of(w, "ff.net.0.proj", channels, 2 * ffInner, true);
        this.ffOut = Linear.of(w, "ff.net.2", ffInner, channels, true);
    }

    /** Feed-forward hidden floats held at once (16 MiB): at 512² SD1.5's whole 4096-token GEGLU would be 126 MB. */
    private static final int FF_FLOATS = 1 << 22;

    /** x [batch][h·w][channels] → the updated stream (x itself when not recording gradients). */
    float[] forward(float[] x, int batch, int h, int w, Conditioning cond) {
        TokenMerge.Merge m = cond.tokenMerge() == null ? null
                : cond.tokenMerge().plan(x, batch, h, w, channels, Math.max(1, cond.latentHeight() / h));
        if (m != null) return forwardMerged(x, batch, h * w, cond, m);
        return forward(x, batch, h * w, cond.context(), cond.contextTokens(), ffRows());
    }

    private int ffRows() {
        return Math.max(64, FF_FLOATS / (3 * ffInner));
    }

    /** As above without merging, the feed-forward running {@code ffRows} rows at a time (rows are independent: same bits). */
    float[] forward(float[] x, int batch, int tokens, float[] context, int contextTokens, int ffRows) {
        int rows = batch * tokens;
        float[] n = norm1.forward(x, rows);
        x = addConsumed(x, selfAttention.forward(n, batch, tokens, n, tokens));
        Buffers.give(n);
        n = norm2.forward(x, rows);
        x = addConsumed(x, crossAttention.forward(n, batch, tokens, context, contextTokens));
        Buffers.give(n);
        n = norm3.forward(x, rows);
        x = addFeedForward(x, n, rows, ffRows);
        Buffers.give(n);
        return x;
    }

    /** x + ff(n), {@code ffRows} rows at a time (in place into x, which the block owns) unless recording gradients. */
    private float[] addFeedForward(float[] x, float[] n, int rows, int ffRows) {
        if (Tape.recording()) return Ops.add(x, ffOut.forward(Ops.geglu(ffIn.forward(n, rows), rows, ffInner), rows));
        for (int r0 = 0; r0 < rows; r0 += ffRows) {
            int r = Math.min(ffRows, rows - r0);
            float[] projected = ffIn.forwardRows(n, r0, r), hidden = Ops.geglu(projected, r, ffInner);
            Buffers.give(projected);
            float[] y = ffOut.forward(hidden, r);
            Buffers.give(hidden);
            Activations.addInPlace(x, r0 * channels, y);
            Buffers.give(y);
        }
        return x;
    }

    /**
     * tomesd's patched block: each chosen module runs on the merged tokens of its normalized input and its output is
     * unmerged back onto every token before the residual add, x = unmerge(module(merge(norm(x)))) + x.
     */
    private float[] forwardMerged(float[] x, int batch, int tokens, Conditioning cond, TokenMerge.Merge m) {
        int rows = batch * tokens;
        TokenMerge how = cond.tokenMerge();
        float[] n = norm1.forward(x, rows);
        if (how.selfAttention()) {
            float[] merged = m.merge(n, channels);
            x = addConsumed(x, unmergeConsumed(m, selfAttention.forward(merged, batch, m.tokens(), merged, m.tokens()), merged));
        } else {
            x = addConsumed(x, selfAttention.forward(n, batch, tokens, n, tokens));
        }
        Buffers.give(n);
        n = norm2.forward(x, rows);
        if (how.crossAttention()) {
            float[] merged = m.merge(n, channels);
            x = addConsumed(x, unmergeConsumed(m, crossAttention.forward(merged, batch, m.tokens(), cond.context(), cond.contextTokens()), merged));
        } else {
            x = addConsumed(x, crossAttention.forward(n, batch, tokens, cond.context(), cond.contextTokens()));
        }
        Buffers.give(n);
        n = norm3.forward(x, rows);
        if (how.feedForward()) {
            int mergedRows = batch * m.tokens();
            float[] merged = m.merge(n, channels);
            x = addConsumed(x, unmergeConsumed(m, ffOut.forward(Ops.geglu(ffIn.forward(merged, mergedRows), mergedRows, ffInner), mergedRows), merged));
        } else {
            x = addFeedForward(x, n, rows, ffRows());
        }
        Buffers.give(n);
        return x;
    }

    /** The module output y unmerged to every token; y and the merged input are intermediates nobody reads afterwards. */
    private float[] unmergeConsumed(TokenMerge.Merge m, float[] y, float[] mergedInput) {
        float[] out = m.unmerge(y, channels);
        Buffers.give(y);
        Buffers.give(mergedInput);
        return out;
    }

    /** x + y, y being an intermediate nobody reads afterwards. */
    private static float[] addConsumed(float[] x, float[] y) {
        float[] sum = Ops.add(x, y);
        Buffers.give(y);
        return sum;
    }
}
