package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A set of LoRA files, each with its multipliers, bound to one model: every module resolved to a layer and checked
 * against its weight's shape, with its scale alpha/rank × multiplier (1 × multiplier without alpha); bundled word
 * embeddings resolved to token ids. What is left is applied by merging ({@link LoraMerge}) or at run time
 * ({@link LoraPolicy}).
 */
public final class Adapters {
    /** One file in a set: {@code text} and {@code unet} multiply its text-encoder and UNet modules (A1111's te/unet). */
    public record Use(LoraFile file, float text, float unet) {}

    /**
     * One low-rank term on a layer, scale·up·down: down [rank][in(·k·k)] shaped like the base weight's input side (a
     * k×k kernel for a conv), up [out][rank].
     */
    public record Factor(Weight down, Weight up, float scale, String key) {
        public int rank() {
            return down.shape()[0];
        }
    }

    /** A word's token embedding replaced: the bundled vector for the token id. */
    public record Word(String word, int token, float[] vector) {}

    /** Component kind → layer path → its factors, in the order the files were given. */
    private final Map<String, Map<String, List<Factor>>> factors;
    private final List<Word> words;

    private Adapters(Map<String, Map<String, List<Factor>>> factors, List<Word> words) {
        this.factors = factors;
        this.words = words;
    }

    public static final Adapters NONE = new Adapters(Map.of(), List.of());

    /** Binds the files to {@code model}; a module that fits no layer is a one-line error naming its key. */
    public static Adapters bind(Checkpoint model, List<Use> uses, ClipTokenizer tokenizer) {
        LayerNames unet = new LayerNames(model.unet), text = new LayerNames(model.text);
        Map<String, Map<String, List<Factor>>> factors = new LinkedHashMap<>();
        Map<Integer, Word> words = new LinkedHashMap<>();
        for (Use use : uses) {
            LoraFile f = use.file();
            for (LoraFile.Module m : f.modules()) {
                boolean isUnet = m.target() == LoraFile.Target.UNET;
                LayerNames names = isUnet ? unet : text;
                String path = names.resolve(m, f.path());
                float multiplier = isUnet ? use.unet() : use.text();
                Factor factor = factor(f, m, names.weight(path), multiplier);
                if (multiplier == 0) continue; // checked, but adds nothing
                factors.computeIfAbsent(m.target().component, k -> new LinkedHashMap<>())
                        .computeIfAbsent(path, k -> new ArrayList<>()).add(factor);
            }
            for (Map.Entry<String, float[]> e : f.embeddings().entrySet()) {
                Word w = word(model, f, e.getKey(), e.getValue(), tokenizer);
                if (words.put(w.token(), w) != null) {
                    throw new ModelFormatException(f.path() + ": the embedding of '" + e.getKey() + "' is also given by another LoRA of this set");
                }
            }
        }
        return new Adapters(factors, List.copyOf(words.values()));
    }

    /** The checked factor of a module on a layer whose weight is {@code base}. */
    private static Factor factor(LoraFile f, LoraFile.Module m, ModelTensor base, float multiplier) {
        int[] w = base.shape(), down = m.down().shape(), up = m.up().shape();
        int rank = down[0];
        int[] kernel = Arrays.copyOfRange(w, 2, w.length), downKernel = Arrays.copyOfRange(down, 2, down.length);
        boolean kernelFits = Arrays.equals(kernel, downKernel) || (allOnes(kernel) && allOnes(downKernel));
        boolean upFits = up[0] == w[0] && up[1] == rank && allOnes(Arrays.copyOfRange(up, 2, up.length));
        if (down[1] != w[1] || !kernelFits || !upFits) {
            throw new ModelFormatException(f.path() + ": " + m.key() + ": down " + Arrays.toString(down) + " and up " + Arrays.toString(up)
                    + " do not fit the layer's weight " + Arrays.toString(w));
        }
        float scale = (Float.isNaN(m.alpha()) ? 1f : m.alpha() / rank) * multiplier;
        // the down side takes the base weight's input shape ([rank][in] for a linear, [rank][in][k][k] for a conv)
        int[] downShape = w.length == 2 ? new int[]{rank, w[1]} : w.clone();
        downShape[0] = rank;
        return new Factor(reshaped(m.down(), downShape), reshaped(m.up(), new int[]{w[0], rank}), scale, m.key());
    }

    private static Word word(Checkpoint model, LoraFile f, String word, float[] vector, ClipTokenizer tokenizer) {
        int[] ids = tokenizer.tokenize(word);
        if (ids.length != 1) {
            throw new ModelFormatException(f.path() + ": bundled embedding '" + word + "' is " + ids.length
                    + " tokens; only one-token words are supported");
        }
        ModelTensor table = WordEmbeddings.table(model);
        if (ids[0] >= table.shape()[0]) {
            throw new ModelFormatException(f.path() + ": bundled embedding '" + word + "' is token " + ids[0]
                    + ", past this text encoder's " + table.shape()[0] + "-token embedding table");
        }
        if (vector.length != table.shape()[1]) {
            throw new ModelFormatException(f.path() + ": bundled embedding '" + word + "' has " + vector.length
                    + " values; this text encoder's embeddings have " + table.shape()[1]);
        }
        return new Word(word, ids[0], vector);
    }

    private static boolean allOnes(int[] dims) {
        for (int d : dims) if (d != 1) return false;
        return true;
    }

    private static Weight reshaped(Weight w, int[] shape) {
        return Arrays.equals(w.shape(), shape) ? w : new Weight(w.name(), w.dtype(), shape, w.data());
    }

    /** Layer path → factors of one component ({@code unet} or {@code text_encoder}); empty when none. */
    public Map<String, List<Factor>> factors(String component) {
        return Collections.unmodifiableMap(factors.getOrDefault(component, Map.of()));
    }

    public List<Word> words() {
        return words;
    }

    public boolean isEmpty() {
        return factors.isEmpty() && words.isEmpty();
    }

    /** Whether the text encoder changes (its layers or its word embeddings). */
    public boolean changesText() {
        return !words.isEmpty() || factors.containsKey(dev.edgediffuse.checkpoint.Component.TEXT_ENCODER);
    }

    public boolean changesUnet() {
        return factors.containsKey(dev.edgediffuse.checkpoint.Component.UNET);
    }

    /** The same set restricted to the layers {@code keep} accepts (component, path), words kept. */
    Adapters only(java.util.function.BiPredicate<String, String> keep) {
        Map<String, Map<String, List<Factor>>> out = new LinkedHashMap<>();
        factors.forEach((component, layers) -> layers.forEach((path, fs) -> {
            if (keep.test(component, path)) out.computeIfAbsent(component, k -> new LinkedHashMap<>()).put(path, fs);
        }));
        return new Adapters(out, words);
    }

    /** A set of factors made in memory (training): component → path → factors. */
    public static Adapters of(Map<String, Map<String, List<Factor>>> factors, List<Word> words) {
        return new Adapters(factors, words);
    }
}
