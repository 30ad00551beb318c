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

    public Weights(String source, Map<String, Weight> all) {
        this(source, all, "");
    }

    private Weights(String source, Map<String, Weight> all, String prefix) {
        this.source = source;
        this.all = all;
        this.prefix = prefix;
    }

    /** A view whose names are relative to {@code name} (joined with a dot). */
    public Weights scope(String name) {
        return new Weights(source, all, prefix + name + ".");
    }

    public boolean has(String name) {
        return all.containsKey(prefix + name);
    }

    public String source() {
        return source;
    }

    /** The tensor {@code name}, which must have exactly {@code shape}. */
    public Weight get(String name, int... shape) {
        Weight w = find(name);
        if (!Arrays.equals(w.shape(), shape)) throw wrongShape(w, Arrays.toString(shape));
        return w;
    }

    /** The tensor {@code name}, which must have {@code shape} possibly followed by trailing 1s (1×1 conv as linear). */
    public Weight getSqueezable(String name, int... shape) {
        Weight w = find(name);
        int[] s = w.shape();
        boolean ok = s.length >= shape.length && Arrays.equals(Arrays.copyOf(s, shape.length), shape);
        for (int k = shape.length; ok && k < s.length; k++) ok = s[k] == 1;
        if (!ok) throw wrongShape(w, Arrays.toString(shape));
        return w;
    }

    /** The tensor as heap floats (biases, norm parameters, embeddings). */
    public float[] floats(String name, int... shape) {
        return get(name, shape).toFloats();
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
