package dev.edgediffuse.format;


import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** A component's config.json with typed getters; a missing or mistyped key names the file and key. */
public record Config(String source, Map<String, Object> values) {
    public static Config read(Path path) {
        try {
            return new Config(path.toString(), Json.parseObject(Files.readString(path), path.toString()));
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": file not found");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read (" + e.getMessage() + ")");
        }
    }

    public static Config parse(String source, String json) {
        return new Config(source, Json.parseObject(json, source));
    }

    public boolean has(String key) {
        return values.containsKey(key) && values.get(key) != null;
    }

    /** An integer: 2 and 2.0 are, 1.5 or 3e9 are not (a cast would quietly make them 1 or a negative). */
    public int getInt(String key) {
        return integer(key, require(key));
    }

    public int getInt(String key, int fallback) {
        return has(key) ? getInt(key) : fallback;
    }

    public double getDouble(String key) {
        return number(key, require(key));
    }

    public double getDouble(String key, double fallback) {
        return has(key) ? getDouble(key) : fallback;
    }

    public String getString(String key, String fallback) {
        if (!has(key)) return fallback;
        Object v = values.get(key);
        if (!(v instanceof String s)) throw bad(key, "a string");
        return s;
    }

    public boolean getBool(String key, boolean fallback) {
        if (!has(key)) return fallback;
        Object v = values.get(key);
        if (!(v instanceof Boolean b)) throw bad(key, "true or false");
        return b;
    }

    /** An int list; a single number is accepted and repeated {@code n} times (as diffusers does for head dims). */
    public int[] getInts(String key, int n) {
        Object v = require(key);
        if (v instanceof Number) {
            int[] out = new int[n];
            java.util.Arrays.fill(out, integer(key, v));
            return out;
        }
        return getInts(key);
    }

    public int[] getInts(String key) {
        Object v = require(key);
        if (!(v instanceof List<?> l)) throw bad(key, "a list of integers");
        int[] out = new int[l.size()];
        for (int k = 0; k < out.length; k++) out[k] = integer(key, l.get(k));
        return out;
    }

    public double[] getDoubles(String key) {
        Object v = require(key);
        if (!(v instanceof List<?> l)) throw bad(key, "a list of numbers");
        double[] out = new double[l.size()];
        for (int k = 0; k < out.length; k++) out[k] = number(key, l.get(k));
        return out;
    }

    public String[] getStrings(String key) {
        Object v = require(key);
        if (!(v instanceof List<?> l)) throw bad(key, "a list of strings");
        String[] out = new String[l.size()];
        for (int k = 0; k < out.length; k++) {
            if (!(l.get(k) instanceof String s)) throw bad(key, "a list of strings");
            out[k] = s;
        }
        return out;
    }

    private Object require(String key) {
        if (!has(key)) throw new ModelFormatException(source + ": missing key \"" + key + "\"");
        return values.get(key);
    }

    /**
     * The one-line error for a value that reads but cannot work, e.g. {@code invalid("norm_num_groups", "must divide
     * every block_out_channels entry")}: "{source}: key "norm_num_groups" must divide ..., got 7".
     */
    public ModelFormatException invalid(String key, String requirement) {
        Object v = values.get(key);
        return new ModelFormatException(source + ": key \"" + key + "\" " + requirement + ", got "
                + (v == null ? "(absent: the default)" : Json.write(v)));
    }

    private int integer(String key, Object v) {
        double d = number(key, v);
        if (d != Math.rint(d) || d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) throw bad(key, "an integer");
        return (int) d;
    }

    private double number(String key, Object v) {
        if (!(v instanceof Number num)) throw bad(key, "a number");
        return num.doubleValue();
    }

    private ModelFormatException bad(String key, String what) {
        return new ModelFormatException(source + ": key \"" + key + "\" must be " + what + ", got " + values.get(key));
    }
}
