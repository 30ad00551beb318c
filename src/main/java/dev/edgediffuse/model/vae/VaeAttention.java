package dev.edgediffuse.model.vae;

import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * The mid block's single-head self-attention over all pixels: group norm, q/k/v projections, softmax(QKᵀ/√C)V,
 * output projection, plus the input. Reads current diffusers names (to_q, to_k, to_v, to_out.0) or the older
 * ones (query, key, value, proj_attn); linear weights may be stored as 1×1 convs.
 */
final class VaeAttention {
    private final GroupNorm norm;
    private final Linear q, k, v, out;
    private final int channels;

    VaeAttention(Weights w, int channels, int groups) {
        this.channels = channels;
        norm = new GroupNorm(w, "group_norm", channels, groups, VaeResnetBlock.EPS);
        boolean legacy = !w.has("to_q.weight") && w.has("query.weight");
        q = Linear.of(w, legacy ? "query" : "to_q", channels, channels, true);
        k = Linear.of(w, legacy ? "key" : "to_k", channels, channels, true);
        v = Linear.of(w, legacy ? "value" : "to_v", channels, channels, true);
        out = Linear.of(w, legacy ? "proj_attn" : "to_out.0", channels, channels, true);
    }

    FeatureMap forward(FeatureMap x) {
        int tokens = x.pixels(), rows = x.batch() * tokens;
        float[] h = norm.forward(x, false).data();
        float[] a = Ops.attend(q.forward(h, rows), k.forward(h, rows), v.forward(h, rows),
                x.batch(), tokens, tokens, 1, channels, false);
        return x.with(Ops.add(out.forward(a, rows), x.data()));
    }
}
