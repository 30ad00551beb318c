package dev.edgediffuse.format;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON for configs, recipes, requests and safetensors headers. Values map to {@code Map<String,Object>} (in file
 * order), {@code List<Object>}, {@code String}, {@code Long} (integers that fit) / {@code Double} (anything else,
 * NaN and Infinity included), {@code Boolean}, null. Reading is Jackson's streaming parser under fixed limits (nesting
 * depth, document, string and name lengths) with duplicate keys rejected, so hostile input is a one-line
 * {@link IllegalArgumentException}, never a deep recursion or an allocation it sized; writing is our own, byte-stable
 * (safetensors headers written earlier compare equal).
 */
public final class Json {
    /** Deeper than any config, recipe, header or request we read. */
    public static final int MAX_DEPTH = 64;
    /** The safetensors header cap; request bodies have their own, smaller limit. */
    public static final long MAX_DOCUMENT_CHARS = 100_000_000L;
    public static final int MAX_STRING_CHARS = 16 << 20;
    public static final int MAX_NAME_CHARS = 64 << 10;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_DEPTH)
                    .maxDocumentLength(MAX_DOCUMENT_CHARS)
                    .maxStringLength(MAX_STRING_CHARS)
                    .maxNameLength(MAX_NAME_CHARS)
                    .maxNumberLength(1000)
                    .build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS) // NaN and Infinity, as write() writes them
            .build();

    private Json() {}

    /** The value {@code text} holds; malformed or over-limit input is an {@link IllegalArgumentException}, one line. */
    public static Object parse(String text) {
        try (JsonParser p = FACTORY.createParser(text)) {
            if (p.nextToken() == null) throw new IllegalArgumentException("empty document");
            Object v = read(p);
            if (p.nextToken() != null) throw new IllegalArgumentException("trailing characters at offset " + offset(p.currentTokenLocation()));
            return v;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(oneLine(e));
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage()); // a String source does no I/O
        }
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text, String what) {
        Object v;
        try {
            v = parse(text);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(what + ": invalid JSON (" + e.getMessage() + ")");
        }
        if (!(v instanceof Map)) throw new ModelFormatException(what + ": expected a JSON object");
        return (Map<String, Object>) v;
    }

    /** Builds the value starting at the current token without recursion (the parser bounds the depth). */
    @SuppressWarnings("unchecked")
    private static Object read(JsonParser p) throws IOException {
        Deque<Object> open = new ArrayDeque<>(); // the Maps and Lists being filled, innermost first
        Deque<String> keys = new ArrayDeque<>(); // for each open Map, the key awaiting its value
        for (JsonToken t = p.currentToken(); ; t = p.nextToken()) {
            if (t == null) throw new IllegalArgumentException("unexpected end");
            Object value;
            switch (t) {
                case FIELD_NAME -> {
                    keys.pop();
                    keys.push(p.currentName());
                    continue;
                }
                case END_OBJECT, END_ARRAY -> {
                    Object closed = open.pop();
                    if (closed instanceof Map) keys.pop();
                    if (open.isEmpty()) return closed;
                    continue;
                }
                case START_OBJECT -> value = new LinkedHashMap<String, Object>();
                case START_ARRAY -> value = new ArrayList<>();
                case VALUE_STRING -> value = p.getText();
                // integers beyond a long become doubles, as before
                case VALUE_NUMBER_INT -> value = p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                        ? (Object) p.getDoubleValue() : (Object) p.getLongValue();
                case VALUE_NUMBER_FLOAT -> value = p.getDoubleValue();
                case VALUE_TRUE -> value = Boolean.TRUE;
                case VALUE_FALSE -> value = Boolean.FALSE;
                case VALUE_NULL -> value = null;
                default -> throw new IllegalArgumentException("unexpected token " + t + " at offset " + offset(p.currentTokenLocation()));
            }
            Object parent = open.peek();
            if (parent instanceof Map<?, ?> m) ((Map<String, Object>) m).put(keys.peek(), value);
            else if (parent instanceof List<?> l) ((List<Object>) l).add(value);
            if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
                open.push(value);
                if (t == JsonToken.START_OBJECT) keys.push("");
            } else if (parent == null) {
                return value;
            }
        }
    }

    private static long offset(JsonLocation at) {
        return at == null ? -1 : at.getCharOffset();
    }

    /** Jackson's message without its source excerpt, on one line, with the character offset. */
    private static String oneLine(JsonProcessingException e) {
        String m = e.getOriginalMessage();
        m = m == null ? e.getClass().getSimpleName() : m.replaceAll("\\s+", " ")
                .replaceAll(" ?\\(start marker at \\[Source: [^]]*][^)]*\\)", "") // where the object began: noise here
                .replaceAll(", from `[^`]*`", "").strip();
        if (m.length() > 200) m = m.substring(0, 200) + "…";
        return e.getLocation() == null ? m : m + " at offset " + offset(e.getLocation());
    }

    /** Serializes maps, lists, strings, numbers, booleans and null. */
    public static String write(Object v) {
        StringBuilder b = new StringBuilder();
        write(v, b);
        return b.toString();
    }

    private static void write(Object v, StringBuilder b) {
        if (v == null) b.append("null");
        else if (v instanceof String str) quote(str, b);
        else if (v instanceof Map<?, ?> m) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) b.append(',');
                first = false;
                quote(String.valueOf(e.getKey()), b);
                b.append(':');
                write(e.getValue(), b);
            }
            b.append('}');
        } else if (v instanceof Iterable<?> it) {
            b.append('[');
            boolean first = true;
            for (Object o : it) {
                if (!first) b.append(',');
                first = false;
                write(o, b);
            }
            b.append(']');
        } else if (v instanceof int[] arr) {
            b.append('[');
            for (int k = 0; k < arr.length; k++) b.append(k == 0 ? "" : ",").append(arr[k]);
            b.append(']');
        } else b.append(v);
    }

    private static void quote(String str, StringBuilder b) {
        b.append('"');
        for (int k = 0; k < str.length(); k++) {
            char c = str.charAt(k);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }
}
