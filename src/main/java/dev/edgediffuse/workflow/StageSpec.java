package dev.edgediffuse.workflow;

import dev.edgediffuse.format.ModelFormatException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One stage's JSON object, read strictly: each getter checks the type and range of its key, and {@link #done} makes
 * any key no getter asked for a one-line error naming it. Errors name the recipe file and the stage.
 */
public final class StageSpec {
    private final Map<String, Object> json;
    private final String where;
    private final Path recipeDir;
    private final Set<String> read = new LinkedHashSet<>();
    /** The values as the stage understood them (defaults filled in): what its cache key is hashed from. */
    private final Map<String, Object> canonical = new LinkedHashMap<>();

    StageSpec(Map<String, Object> json, String where, Path recipeDir) {
        this.json = json;
        this.where = where;
        this.recipeDir = recipeDir;
        read.add("stage");
    }

    public String where() {
        return where;
    }

    public boolean has(String key) {
        return json.containsKey(key);
    }

    public ModelFormatException error(String what) {
        return new ModelFormatException(where + ": " + what);
    }

    public String string(String key, String fallback) {
        read.add(key);
        Object v = json.get(key);
        if (v == null) return record(key, fallback);
        if (!(v instanceof String s)) throw error("\"" + key + "\" must be a string, got " + v);
        return record(key, s);
    }

    public Double number(String key, Double fallback, double min, double max) {
        read.add(key);
        Object v = json.get(key);
        if (v == null) return record(key, fallback);
        if (!(v instanceof Number n)) throw error("\"" + key + "\" must be a number, got " + quoted(v));
        double d = n.doubleValue();
        if (!(d >= min && d <= max)) throw error("\"" + key + "\" must be in [" + fmt(min) + ", " + fmt(max) + "], got " + fmt(d));
        return record(key, d);
    }

    public Integer integer(String key, Integer fallback, long min, long max) {
        read.add(key);
        Object v = json.get(key);
        if (v == null) return record(key, fallback);
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw error("\"" + key + "\" must be an integer, got " + quoted(v));
        }
        long l = n.longValue();
        if (l < min || l > max) throw error("\"" + key + "\" must be in [" + min + ", " + max + "], got " + l);
        return record(key, (int) l);
    }

    public boolean bool(String key, boolean fallback) {
        read.add(key);
        Object v = json.get(key);
        if (v == null) return record(key, fallback);
        if (!(v instanceof Boolean b)) throw error("\"" + key + "\" must be true or false, got " + quoted(v));
        return record(key, b);
    }

    public List<String> strings(String key, List<String> fallback) {
        read.add(key);
        Object v = json.get(key);
        if (v == null) return record(key, fallback);
        if (!(v instanceof List<?> l)) throw error("\"" + key + "\" must be a list of strings, got " + quoted(v));
        List<String> out = new ArrayList<>();
        for (Object o : l) {
            if (!(o instanceof String s)) throw error("\"" + key + "\" must be a list of strings, got an element " + quoted(o));
            out.add(s);
        }
        return record(key, out);
    }

    public double[] numbers(String key, double[] fallback) {
        read.add(key);
        Object v = json.get(key);
        if (v == null) {
            if (fallback != null) record(key, toList(fallback));
            return fallback;
        }
        if (!(v instanceof List<?> l)) throw error("\"" + key + "\" must be a list of numbers, got " + quoted(v));
        double[] out = new double[l.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(l.get(i) instanceof Number n)) throw error("\"" + key + "\" must be a list of numbers, got an element " + quoted(l.get(i)));
            out[i] = n.doubleValue();
        }
        record(key, toList(out));
        return out;
    }

    /** A {@code {"glob": "format"}} object. */
    public Map<String, String> stringMap(String key) {
        read.add(key);
        Object v = json.get(key);
        Map<String, String> out = new LinkedHashMap<>();
        if (v == null) return out;
        if (!(v instanceof Map<?, ?> m)) throw error("\"" + key + "\" must be an object of strings, got " + quoted(v));
        m.forEach((k, val) -> {
            if (!(val instanceof String s)) throw error("\"" + key + "\": value for " + k + " must be a string, got " + quoted(val));
            out.put(k.toString(), s);
        });
        record(key, out);
        return out;
    }

    /** A file named relative to the recipe's folder; must exist. */
    public Path file(String key, boolean required) {
        String s = string(key, null);
        if (s == null) {
            if (required) throw error("\"" + key + "\" is required");
            return null;
        }
        Path p = recipeDir.resolve(s).normalize();
        if (!java.nio.file.Files.isRegularFile(p)) throw error("\"" + key + "\": " + p + " not found");
        return p;
    }

    /** Ends reading: a key no getter took is an error naming it and those it could have been. */
    void done() {
        for (String k : json.keySet()) {
            if (!read.contains(k)) {
                List<String> known = new ArrayList<>(read);
                known.remove("stage");
                throw error("unknown key \"" + k + "\" (known: " + String.join(", ", known) + ")");
            }
        }
    }

    Map<String, Object> canonical() {
        return canonical;
    }

    private <T> T record(String key, T value) {
        if (value != null) canonical.put(key, value instanceof Path ? value.toString() : value);
        return value;
    }

    private static List<Double> toList(double[] a) {
        List<Double> l = new ArrayList<>();
        for (double d : a) l.add(d);
        return l;
    }

    private static String quoted(Object v) {
        return v instanceof String s ? "\"" + s + "\"" : String.valueOf(v);
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
