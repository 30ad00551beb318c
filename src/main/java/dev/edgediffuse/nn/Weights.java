package dev.edgediffuse.nn;

import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.Weight;

import java.util.Arrays;
import java.util.Map;

/**
 * The tensors of one model component, looked up by their diffusers/transformers names relative to a prefix.
 * Every lookup states the shape it expects, so a wrong checkpoint fails at load with the tensor's name.
 */
public final class Weights {
    private final String source;
    private final Map<String, Weight> all;
    private final String prefix;
    /** When not null, lookups fabricate zero tensors of the expected shape and record them here (name → shape). */
    private final Map<String, int[]> recorder;
    private final LayerPolicy policy;

    public Weights(String source, Map<String, Weight> all) {
        this(source, all, "", null, LayerPolicy.DENSE);
    }

    private Weights(String source, Map<String, Weight> all, String prefix, Map<String, int[]> recorder, LayerPolicy policy) {
        this.source = source;
        this.all = all;
        this.prefix = prefix;
        this.recorder = recorder;
        this.policy = policy;
    }

    /**
     * Weights that answer every lookup with zeros and record the name and expected shape, in lookup order: building a
     * model on them lists exactly the tensors a checkpoint for that config must hold. Optional tensors are taken to be
     * present when they are biases and absent otherwise (no legacy aliases).
     */
    public static Weights recording(String source, Map<String, int[]> recorder) {
        return new Weights(source, new java.util.HashMap<>(), "", recorder, LayerPolicy.DENSE);
    }

    /** A view whose names are relative to {@code name} (joined with a dot). */
    public Weights scope(String name) {
        return new Weights(source, all, prefix + name + ".", recorder, policy);
    }

    /** The same tensors, with layers built by {@code policy} (see {@link Linear#of}). */
    public Weights withPolicy(LayerPolicy policy) {
        return new Weights(source, all, prefix, recorder, policy);
    }

    public LayerPolicy policy() {
        return policy;
    }

    /** {@code name}'s full name within the component (the scope's prefix prepended). */
    public String path(String name) {
        return prefix + name;
    }

    public boolean has(String name) {
        if (recorder != null) return name.endsWith(".bias") || name.equals("bias");
        return all.containsKey(prefix + name);
    }

    /** The stored shape of tensor {@code name} (which must exist). */
    public int[] shapeOf(String name) {
        return find(name).shape();
    }

    public String source() {
        return source;
    }

    /** The tensor {@code name}, which must have exactly {@code shape}. */
    public Weight get(String name, int... shape) {
        if (recorder != null) return record(name, shape);
        Weight w = find(name);
        if (!Arrays.equals(w.shape(), shape)) throw wrongShape(w, Arrays.toString(shape));
        return w;
    }

    /** The tensor {@code name}, which must have {@code shape} possibly followed by trailing 1s (1×1 conv as linear). */
    public Weight getSqueezable(String name, int... shape) {
        if (recorder != null) return record(name, shape);
        Weight w = find(name);
        int[] s = w.shape();
        boolean ok = s.length >= shape.length && Arrays.equals(Arrays.copyOf(s, shape.length), shape);
        for (int k = shape.length; ok && k < s.length; k++) ok = s[k] == 1;
        if (!ok) throw wrongShape(w, Arrays.toString(shape));
        return w;
    }

    /** The tensor as heap floats (biases, norm parameters, embeddings); a trainable parameter's own array. */
    public float[] floats(String name, int... shape) {
        Weight w = get(name, shape);
        float[] shared = w.heapArray();
        return shared != null ? shared : w.toFloats();
    }

    private Weight record(String name, int[] shape) {
        String full = prefix + name;
        recorder.put(full, shape.clone());
        return all.computeIfAbsent(full, n -> {
            long count = 1;
            for (int d : shape) count *= d;
            return new Weight(n, dev.edgediffuse.tensor.DType.F32, shape.clone(), ZeroSegment.of(count * 4));
        });
    }

    private Weight find(String name) {
        Weight w = all.get(prefix + name);
        if (w == null) throw new ModelFormatException(source + ": tensor " + prefix + name + " is missing");
        return w;
    }

    private ModelFormatException wrongShape(Weight w, String expected) {
        return new ModelFormatException(source + ": tensor " + prefix + relative(w.name()) + " has shape "
                + w.shapeString() + ", expected " + expected);
    }

    private String relative(String full) {
        return full.startsWith(prefix) ? full.substring(prefix.length()) : full;
    }
}
