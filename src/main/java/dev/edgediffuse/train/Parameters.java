package dev.edgediffuse.train;

import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The trainable tensors of one model component, in heap float arrays under their checkpoint names. A model built on
 * {@link #weights} reads these very arrays, so optimizer steps change the model in place.
 */
public final class Parameters {
    private final Map<String, float[]> values = new LinkedHashMap<>();
    private final Map<String, int[]> shapes = new LinkedHashMap<>();

    /**
     * Fresh parameters for the tensors a model lists (see RandomCheckpoint's recording builds): weights uniform in
     * ±1/√fan_in (PyTorch's default for conv and linear), biases zero, norm scales one, embedding tables N(0, 0.02²).
     */
    public static Parameters initialize(Map<String, int[]> tensors, Rng rng) {
        Parameters p = new Parameters();
        for (Map.Entry<String, int[]> e : tensors.entrySet()) {
            String name = e.getKey();
            int[] shape = e.getValue();
            float[] v = new float[count(shape)];
            boolean vector = shape.length == 1;
            if (vector && isNormScale(name)) Arrays.fill(v, 1f);
            else if (isEmbeddingTable(name)) {
                for (int i = 0; i < v.length; i++) v[i] = 0.02f * rng.nextGaussian();
            } else if (!vector) {
                int fanIn = v.length / shape[0];
                float bound = (float) (1.0 / Math.sqrt(fanIn));
                for (int i = 0; i < v.length; i++) v[i] = bound * (2f * (float) rng.nextDouble() - 1f);
            }
            p.put(name, shape, v);
        }
        return p;
    }

    /** A looked-up table or learned vector (token_embedding.weight, positional_embedding), not a layer inside an *_embedding module. */
    private static boolean isEmbeddingTable(String name) {
        String module = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
        return module.substring(module.lastIndexOf('.') + 1).endsWith("embedding");
    }

    private static boolean isNormScale(String name) {
        return name.endsWith(".weight") && (name.contains("norm") || name.contains("layer_norm"));
    }

    public void put(String name, int[] shape, float[] v) {
        if (v.length != count(shape)) throw new IllegalArgumentException(name + ": " + v.length + " values for shape " + Arrays.toString(shape));
        values.put(name, v);
        shapes.put(name, shape.clone());
    }

    public float[] get(String name) {
        float[] v = values.get(name);
        if (v == null) throw new IllegalArgumentException("no parameter " + name);
        return v;
    }

    public Map<String, int[]> shapes() {
        return shapes;
    }

    public List<String> names() {
        return new ArrayList<>(values.keySet());
    }

    public List<float[]> arrays() {
        return new ArrayList<>(values.values());
    }

    public long count() {
        long n = 0;
        for (float[] v : values.values()) n += v.length;
        return n;
    }

    /** Weights backed by these arrays (not copies), for building the model that trains them. */
    public Weights weights(String source) {
        Map<String, Weight> all = new LinkedHashMap<>();
        values.forEach((name, v) -> all.put(name, new Weight(name, DType.F32, shapes.get(name), MemorySegment.ofArray(v))));
        return new Weights(source, all);
    }

    /** One set over several (same arrays, names prefixed), to optimize models jointly. */
    public static Parameters union(Map<String, Parameters> byPrefix) {
        Parameters p = new Parameters();
        new java.util.TreeMap<>(byPrefix).forEach((prefix, part) -> part.values.forEach((n, v) -> p.put(prefix + n, part.shapes.get(n), v)));
        return p;
    }

    /** The same arrays under prefixed names (e.g. transformers' "text_model."). */
    public Parameters withPrefix(String prefix) {
        return union(Map.of(prefix, this));
    }

    /** The tensors whose names start with one of {@code prefixes} (same arrays): a part to train while the rest stays frozen. */
    public Parameters only(String... prefixes) {
        Parameters p = new Parameters();
        values.forEach((name, v) -> {
            for (String prefix : prefixes) {
                if (name.startsWith(prefix)) {
                    p.put(name, shapes.get(name), v);
                    return;
                }
            }
        });
        if (p.values.isEmpty()) throw new IllegalArgumentException("no parameter starts with " + Arrays.toString(prefixes));
        return p;
    }

    /** A deep copy (EMA shadows, snapshots). */
    public Parameters copy() {
        Parameters p = new Parameters();
        values.forEach((name, v) -> p.put(name, shapes.get(name), v.clone()));
        return p;
    }

    /** A copy holding the values a {@link #save} in {@code dtype} stores: f16 rounds them, f32 keeps them. */
    public Parameters storedAs(DType dtype) {
        if (dtype != DType.F32 && dtype != DType.F16) throw new IllegalArgumentException("training saves f32 or f16, not " + dtype);
        Parameters p = copy();
        if (dtype == DType.F16) {
            for (float[] v : p.values.values()) {
                for (int i = 0; i < v.length; i++) v[i] = Float.float16ToFloat(Float.floatToFloat16(v[i]));
            }
        }
        return p;
    }

    /** Overwrites these values with {@code other}'s (same names and shapes). */
    public void copyFrom(Parameters other) {
        values.forEach((name, v) -> System.arraycopy(other.get(name), 0, v, 0, v.length));
    }

    /** Writes the tensors as a safetensors file in {@code dtype}, names prefixed (e.g. "text_model."). */
    public void save(Path file, DType dtype, Map<String, String> metadata) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        values.forEach((name, v) -> w.add(name, dtype, shapes.get(name), (off, dst, n) -> System.arraycopy(v, (int) off, dst, 0, n)));
        metadata.forEach(w::metadata);
        w.write(file);
    }

    /** Reads every tensor of this set from a safetensors file, checking names and shapes. */
    public void load(Path file) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            for (String name : values.keySet()) {
                Weight w = st.tensors().get(name);
                if (w == null) throw new ModelFormatException(file + ": tensor " + name + " is missing");
                if (!Arrays.equals(w.shape(), shapes.get(name))) {
                    throw new ModelFormatException(file + ": tensor " + name + " has shape " + w.shapeString()
                            + ", expected " + Arrays.toString(shapes.get(name)));
                }
                w.copyTo(0, values.get(name), 0, values.get(name).length);
            }
        }
    }

    static int count(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor too large: " + Arrays.toString(shape));
        return (int) n;
    }
}
