package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;

import java.util.Map;
import java.util.Set;

/** Typed access to a JSON request body; a missing or mistyped field is a 400 naming it. */
final class Fields {
    private final Map<String, Object> m;

    private Fields(Map<String, Object> m) {
        this.m = m;
    }

    @SuppressWarnings("unchecked")
    static Fields parse(byte[] body) {
        Object v;
        try {
            v = Json.parse(new String(body, java.nio.charset.StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            throw ApiError.badRequest("body is not valid JSON: " + e.getMessage());
        }
        if (!(v instanceof Map)) throw ApiError.badRequest("body must be a JSON object");
        return new Fields((Map<String, Object>) v);
    }

    /** Rejects fields outside {@code known} (typos would otherwise be silently ignored). */
    Fields only(Set<String> known) {
        for (String k : m.keySet()) {
            if (!known.contains(k)) throw ApiError.badRequest("unknown field '" + k + "'");
        }
        return this;
    }

    boolean has(String k) {
        return m.get(k) != null;
    }

    Object raw(String k) {
        return m.get(k);
    }

    String str(String k, String fallback) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (!(v instanceof String s)) throw ApiError.badRequest(k + " must be a string");
        return s;
    }

    long integer(String k, long fallback) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (v instanceof Long l) return l;
        if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 9e15) return d.longValue();
        throw ApiError.badRequest(k + " must be an integer, got " + Json.write(v));
    }

    int int32(String k, int fallback) {
        long v = integer(k, fallback);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) throw ApiError.badRequest(k + " is out of range: " + v);
        return (int) v;
    }

    double number(String k, double fallback) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (v instanceof Number n) return n.doubleValue();
        throw ApiError.badRequest(k + " must be a number, got " + Json.write(v));
    }

    boolean bool(String k, boolean fallback) {
        Object v = m.get(k);
        if (v == null) return fallback;
        if (v instanceof Boolean b) return b;
        throw ApiError.badRequest(k + " must be true or false");
    }

    @SuppressWarnings("unchecked")
    Fields object(String k) {
        Object v = m.get(k);
        if (v == null) return new Fields(Map.of());
        if (!(v instanceof Map)) throw ApiError.badRequest(k + " must be an object");
        return new Fields((Map<String, Object>) v);
    }
}
