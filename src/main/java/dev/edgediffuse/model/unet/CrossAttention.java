package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Buffers;

/** Multi-head attention with bias-free to_q/to_k/to_v and a biased to_out.0 (diffusers' Attention, attn1 or attn2). */
final class CrossAttention {
    private final Linear toQ, toK, toV, toOut;
    private final int heads, headDim;

    /** {@code heads} of width channels / heads; a pruned attention keeps {@code widths.heads} of them. */
    CrossAttention(Weights w, int channels, int contextDim, int heads, PrunedWidths widths) {
        if (channels % heads != 0) {
            throw new IllegalArgumentException(channels + " channels do not split into " + heads + " heads");
        }
        this.headDim = channels / heads;
        this.heads = widths.heads(w, heads);
        int inner = this.heads * headDim;
        this.toQ = Linear.of(w, "to_q", channels, inner, false);
        this.toK = Linear.of(w, "to_k", contextDim, inner, false);
        this.toV = Linear.of(w, "to_v", contextDim, inner, false);
        this.toOut = Linear.of(w, "to_out.0", inner, channels, true);
    }

    /** x [batch][tq][channels] attends over kv [batch][tk][contextDim]; returns [batch][tq][channels]. */
    float[] forward(float[] x, int batch, int tq, float[] kv, int tk) {
        float[] q = toQ.forward(x, batch * tq);
        float[] k = toK.forward(kv, batch * tk);
        float[] v = toV.forward(kv, batch * tk);
        float[] a = Ops.attend(q, k, v, batch, tq, tk, heads, headDim, false);
        Buffers.give(q);
        Buffers.give(k);
        Buffers.give(v);
        float[] out = toOut.forward(a, batch * tq);
        Buffers.give(a);
        return out;
    }
}
