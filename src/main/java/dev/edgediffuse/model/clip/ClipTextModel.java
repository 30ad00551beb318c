package dev.edgediffuse.model.clip;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.LayerNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Weight;

import java.util.Map;

/**
 * CLIP's text transformer (transformers' CLIPTextModel): token + position embeddings, pre-LN causal self-attention
 * blocks, final LayerNorm. SD 1.x conditions on the last layer; SD 2.x checkpoints reach the penultimate layer through
 * their config (num_hidden_layers = 23), and {@code skipLastLayers} ("clip skip") does the same for any model.
 */
public final class ClipTextModel {
    private final int hidden, heads, maxPositions, vocabSize;
    private final boolean quickGelu;
    /** Kept in its mapped storage (49408×768 or ×1024); rows are converted as tokens look them up. */
    private final Weight tokenEmbedding;
    private final float[] positionEmbedding;
    private final Block[] blocks;
    private final LayerNorm finalNorm;

    private record Block(LayerNorm norm1, Linear q, Linear k, Linear v, Linear out, LayerNorm norm2, Linear fc1, Linear fc2) {}

    /**
     * @param config  the text_encoder's config.json
     * @param weights its tensors, named {@code text_model.…} as transformers saves them (or already scoped to it)
     */
    public ClipTextModel(Config config, Weights weights) {
        hidden = config.getInt("hidden_size");
        heads = config.getInt("num_attention_heads");
        int intermediate = config.getInt("intermediate_size"), layers = config.getInt("num_hidden_layers");
        maxPositions = config.getInt("max_position_embeddings", 77);
        vocabSize = config.getInt("vocab_size");
        double eps = config.getDouble("layer_norm_eps", 1e-5);
        String act = config.getString("hidden_act", "quick_gelu");
        if (!act.equals("quick_gelu") && !act.equals("gelu")) {
            throw new ModelFormatException(config.source() + ": hidden_act \"" + act + "\" is not supported (quick_gelu or gelu)");
        }
        quickGelu = act.equals("quick_gelu");
        if (hidden <= 0 || heads <= 0 || hidden % heads != 0 || layers <= 0) {
            throw new ModelFormatException(config.source() + ": hidden_size " + hidden + " must split evenly into "
                    + heads + " attention heads (num_attention_heads), with at least one layer (num_hidden_layers " + layers + ")");
        }
        for (String key : new String[]{"intermediate_size", "vocab_size"}) {
            if (config.getInt(key) < 1) throw config.invalid(key, "must be at least 1");
        }
        if (maxPositions < 1) throw config.invalid("max_position_embeddings", "must be at least 1");
        if (!(eps > 0) || Double.isInfinite(eps)) throw config.invalid("layer_norm_eps", "must be a positive number");
        Weights w = weights.has("text_model.embeddings.token_embedding.weight") ? weights.scope("text_model") : weights;
        tokenEmbedding = w.get("embeddings.token_embedding.weight", vocabSize, hidden);
        positionEmbedding = w.floats("embeddings.position_embedding.weight", maxPositions, hidden);
        blocks = new Block[layers];
        for (int i = 0; i < layers; i++) {
            Weights l = w.scope("encoder.layers." + i);
            blocks[i] = new Block(
                    new LayerNorm(l, "layer_norm1", hidden, eps),
                    Linear.of(l, "self_attn.q_proj", hidden, hidden, true),
                    Linear.of(l, "self_attn.k_proj", hidden, hidden, true),
                    Linear.of(l, "self_attn.v_proj", hidden, hidden, true),
                    Linear.of(l, "self_attn.out_proj", hidden, hidden, true),
                    new LayerNorm(l, "layer_norm2", hidden, eps),
                    Linear.of(l, "mlp.fc1", hidden, intermediate, true),
                    Linear.of(l, "mlp.fc2", intermediate, hidden, true));
        }
        finalNorm = new LayerNorm(w, "final_layer_norm", hidden, eps);
    }

    public int hiddenSize() {
        return hidden;
    }

    public int maxPositions() {
        return maxPositions;
    }

    public int layerCount() {
        return blocks.length;
    }

    /** Final-layer hidden states: [batch][tokens][hidden] row-major for {@code tokenIds} [batch][tokens]. */
    public float[] encode(int[][] tokenIds) {
        return encode(tokenIds, 0);
    }

    /**
     * Hidden states after layer {@code layerCount() - skipLastLayers}, with final_layer_norm applied (as diffusers'
     * clip_skip does): [batch][tokens][hidden] row-major. Every prompt must have the same number of tokens.
     */
    public float[] encode(int[][] tokenIds, int skipLastLayers) {
        return encode(tokenIds, skipLastLayers, Map.of());
    }

    /**
     * As {@link #encode(int[][], int)}, with the embeddings of some tokens taken from {@code tokenVectors} (token id →
     * [hidden]) instead of the table: new words being learnt (a LoRA's bundled embeddings); differentiable in them.
     */
    public float[] encode(int[][] tokenIds, int skipLastLayers, Map<Integer, float[]> tokenVectors) {
        return encode(tokenIds, skipLastLayers, tokenVectors, 1f);
    }

    /**
     * As above, each token vector multiplied by {@code vectorScale} (a learning-rate multiplier for vectors being learnt:
     * an optimizer step of size η on v moves scale·v by scale·η).
     */
    public float[] encode(int[][] tokenIds, int skipLastLayers, Map<Integer, float[]> tokenVectors, float vectorScale) {
        if (skipLastLayers < 0 || skipLastLayers >= blocks.length) {
            throw new IllegalArgumentException("skipLastLayers must be in [0, " + (blocks.length - 1) + "], got " + skipLastLayers);
        }
        int batch = tokenIds.length;
        if (batch == 0) throw new IllegalArgumentException("no prompts to encode");
        int tokens = tokenIds[0].length;
        if (tokens == 0 || tokens > maxPositions) {
            throw new IllegalArgumentException("prompts must have 1 to " + maxPositions + " tokens, got " + tokens);
        }
        int rows = batch * tokens;
        float[] x = embed(tokenIds, tokens, tokenVectors, vectorScale);
        for (int i = 0; i < blocks.length - skipLastLayers; i++) x = block(blocks[i], x, batch, tokens);
        return finalNorm.forward(x, rows);
    }

    private float[] embed(int[][] tokenIds, int tokens, Map<Integer, float[]> tokenVectors, float vectorScale) {
        float[] x = new float[tokenIds.length * tokens * hidden];
        for (int b = 0; b < tokenIds.length; b++) {
            if (tokenIds[b].length != tokens) {
                throw new IllegalArgumentException("prompt " + b + " has " + tokenIds[b].length + " tokens, prompt 0 has " + tokens);
            }
            for (int t = 0; t < tokens; t++) {
                int id = tokenIds[b][t], row = (b * tokens + t) * hidden;
                if (id < 0 || id >= vocabSize) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + vocabSize);
                float[] own = tokenVectors.get(id);
                if (own != null) {
                    for (int c = 0; c < hidden; c++) x[row + c] = vectorScale * own[c];
                } else tokenEmbedding.copyTo((long) id * hidden, x, row, hidden);
                for (int c = 0; c < hidden; c++) x[row + c] += positionEmbedding[t * hidden + c];
            }
        }
        float[] table = tokenEmbedding.heapArray();
        float[][] inputs = new float[2 + tokenVectors.size()][];
        inputs[0] = table;
        inputs[1] = positionEmbedding;
        int k = 2;
        for (float[] v : tokenVectors.values()) inputs[k++] = v;
        Tape.record(x, (tape, dx) -> {
            // each token's gradient row lands on its vocabulary row (or its own vector); positions sum over the batch
            float[] dTable = tape.needs(table) ? new float[table.length] : null;
            float[] dPositions = new float[positionEmbedding.length];
            Map<Integer, float[]> dOwn = new java.util.HashMap<>();
            for (int b = 0; b < tokenIds.length; b++)
                for (int t = 0; t < tokens; t++) {
                    int row = (b * tokens + t) * hidden, id = tokenIds[b][t];
                    float[] own = tokenVectors.get(id);
                    float[] dRow = own == null ? dTable : tape.needs(own) ? dOwn.computeIfAbsent(id, i -> new float[hidden]) : null;
                    int at = own == null ? id * hidden : 0;
                    float scale = own == null ? 1f : vectorScale;
                    for (int c = 0; c < hidden; c++) {
                        if (dRow != null) dRow[at + c] += scale * dx[row + c];
                        dPositions[t * hidden + c] += dx[row + c];
                    }
                }
            tape.accumulateFresh(table, dTable);
            tape.accumulateFresh(positionEmbedding, dPositions);
            dOwn.forEach((id, d) -> tape.accumulateFresh(tokenVectors.get(id), d));
        }, inputs);
        return x;
    }

    /** x + attn(LN1 x), then + MLP(LN2 ·); attention is causal so each token sees only the prompt up to itself. */
    private float[] block(Block blk, float[] x, int batch, int tokens) {
        int rows = batch * tokens;
        float[] h = blk.norm1().forward(x, rows);
        float[] attn = Ops.attend(blk.q().forward(h, rows), blk.k().forward(h, rows), blk.v().forward(h, rows),
                batch, tokens, tokens, heads, hidden / heads, true);
        x = Ops.add(x, blk.out().forward(attn, rows));
        h = blk.fc1().forward(blk.norm2().forward(x, rows), rows);
        h = quickGelu ? Ops.quickGelu(h) : Ops.gelu(h);
        return Ops.add(x, blk.fc2().forward(h, rows));
    }
}
