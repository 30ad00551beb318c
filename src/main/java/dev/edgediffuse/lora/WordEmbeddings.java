package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Word embeddings bundled with a LoRA (A1111's {@code bundle_emb}): the text encoder's token embedding table with the
 * rows of those words' tokens replaced. A one-token word's embedding standing in for the word is exactly what A1111's
 * textual inversion does with it; here it is a pass on the table, so every prompt that uses the word sees it.
 */
public final class WordEmbeddings {
    static final String[] NAMES = {"text_model.embeddings.token_embedding.weight", "embeddings.token_embedding.weight"};

    private WordEmbeddings() {}

    /** The text encoder's token embedding table. */
    public static ModelTensor table(Checkpoint model) {
        for (String n : NAMES) {
            ModelTensor t = model.text.tensors().get(n);
            if (t != null) return t;
        }
        throw new ModelFormatException(model.text.source() + ": no token embedding table (" + NAMES[0] + ")");
    }

    /** The model with the words' rows replaced (an f32 table), or the model itself when there are none. */
    public static Checkpoint apply(Checkpoint model, List<Adapters.Word> words) {
        if (words.isEmpty()) return model;
        ModelTensor table = table(model);
        int[] shape = table.shape();
        ModelTensor replaced = new ModelTensor(table.name(), DType.F32, shape, () -> {
            float[] v = table.get().toFloats();
            for (Adapters.Word w : words) System.arraycopy(w.vector(), 0, v, w.token() * shape[1], shape[1]);
            return new Weight(table.name(), DType.F32, shape, java.lang.foreign.MemorySegment.ofArray(v));
        });
        Map<String, ModelTensor> tensors = new LinkedHashMap<>(model.text.tensors());
        tensors.put(table.name(), replaced);
        Component text = model.text.withTensors(tensors, model.text.source() + " (+ " + words.size() + " word embeddings)");
        return model.withText(text);
    }
}
