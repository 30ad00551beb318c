package dev.edgediffuse.model.unet;

import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.LayerNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;

/**
 * diffusers' TextTimeEmbedding ({@code addition_embed_type: "text"}, weights add_embedding.*): the text encoder's
 * states pooled into one vector that is added to the time embedding, so every ResNet, not only the attention
 * blocks, sees the prompt. Pooling is one attention query, the tokens' mean plus a learned vector, over that
 * query and the tokens (heads as column slices, no output projection), then a projection and a LayerNorm.
 */
final class TextTimeEmbedding {
    private final LayerNorm norm1, norm2;
    private final float[] positional;
    private final Linear toQ, toK, toV, proj;
    private final int dim, heads;

    TextTimeEmbedding(Weights w, String source, int encoderDim, int timeDim, int heads) {
        if (heads <= 0 || encoderDim % heads != 0) {
            throw new ModelFormatException(source + ": addition_embed_type_num_heads " + heads + " must divide "
                    + "cross_attention_dim " + encoderDim);
        }
        this.dim = encoderDim;
        this.heads = heads;
        this.norm1 = new LayerNorm(w, "norm1", encoderDim, 1e-5);
        this.positional = w.floats("pool.positional_embedding", 1, encoderDim);
        this.toQ = Linear.of(w, "pool.q_proj", encoderDim, encoderDim, true);
        this.toK = Linear.of(w, "pool.k_proj", encoderDim, encoderDim, true);
        this.toV = Linear.of(w, "pool.v_proj", encoderDim, encoderDim, true);
        this.proj = Linear.of(w, "proj", encoderDim, timeDim, true);
        this.norm2 = new LayerNorm(w, "norm2", timeDim, 1e-5);
    }

    /** context [batch][tokens][encoderDim] → [batch][timeDim]. */
    float[] forward(float[] context, int batch, int tokens) {
        float[] h = norm1.forward(context, batch * tokens);
        float[] query = Ops.addToRows(Ops.tokenMean(h, batch, tokens, dim), positional);
        float[] all = Ops.prependToken(query, h, batch, tokens, dim);
        float[] pooled = Ops.attend(toQ.forward(query, batch), toK.forward(all, batch * (tokens + 1)),
                toV.forward(all, batch * (tokens + 1)), batch, 1, tokens + 1, heads, dim / heads, false);
        return norm2.forward(proj.forward(pooled, batch), batch);
    }
}
