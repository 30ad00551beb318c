package dev.edgediffuse.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** --name value options for one command; every problem is a one-line {@link UsageException} naming the option. */
final class Args {
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }

    private final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, List<String>> all = new LinkedHashMap<>();

    Args(List<String> argv, Set<String> valued, Set<String> flags) {
        for (int i = 0; i < argv.size(); i++) {
            String a = argv.get(i);
            if (!a.startsWith("--")) throw new UsageException("unexpected argument '" + a + "'");
            String name = a, value = null;
            int eq = a.indexOf('=');
            if (eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            if (flags.contains(name)) {
                values.put(name, "true");
            } else if (valued.contains(name)) {
                if (value == null) {
                    if (i + 1 >= argv.size()) throw new UsageException(name + " needs a value");
                    value = argv.get(++i);
                }
                values.put(name, value);
                all.computeIfAbsent(name, k -> new java.util.ArrayList<>()).add(value);
            } else {
                throw new UsageException("unknown option " + name);
            }
        }
    }

    /** Every value of a repeatable option, in order. */
    List<String> getAll(String name) {
        return all.getOrDefault(name, List.of());
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    String get(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    Path path(String name) {
        return has(name) ? Path.of(values.get(name)) : null;
    }

    int getInt(String name, int fallback) {
        if (!has(name)) return fallback;
        try {
            return Integer.parseInt(values.get(name).trim());
        } catch (NumberFormatException e) {
            throw new UsageException(name + " must be an integer, got '" + values.get(name) + "'");
        }
    }

    long getLong(String name, long fallback) {
        if (!has(name)) return fallback;
        try {
            return Long.parseLong(values.get(name).trim());
        } catch (NumberFormatException e) {
            throw new UsageException(name + " must be an integer, got '" + values.get(name) + "'");
        }
    }

    float getFloat(String name, float fallback) {
        if (!has(name)) return fallback;
        try {
            return Float.parseFloat(values.get(name).trim());
        } catch (NumberFormatException e) {
            throw new UsageException(name + " must be a number, got '" + values.get(name) + "'");
        }
    }
}
