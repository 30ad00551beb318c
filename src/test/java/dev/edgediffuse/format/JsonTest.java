package dev.edgediffuse.format;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Json's value types and byte-stable writing, and its limits against hostile input. */
class JsonTest {
    @Test
    void integersAreLongsEverythingElseDoubles() {
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) Json.parse(
                "{\"a\": 3, \"b\": -0, \"c\": 1.0, \"d\": 1e3, \"e\": 123456789012345678901234, \"f\": NaN, \"g\": -Infinity,"
                        + " \"h\": \"x\\u00e9\\n\", \"i\": [true, false, null], \"j\": {}}");
        assertEquals(3L, m.get("a"));
        assertEquals(0L, m.get("b"));
        assertEquals(1.0, m.get("c"));
        assertEquals(1000.0, m.get("d"));
        assertEquals(1.2345678901234568e23, m.get("e"));
        assertTrue(((Double) m.get("f")).isNaN());
        assertEquals(Double.NEGATIVE_INFINITY, m.get("g"));
        assertEquals("xé\n", m.get("h"));
        assertEquals(java.util.Arrays.asList(true, false, null), m.get("i"));
        assertEquals(Map.of(), m.get("j"));
        assertEquals(List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), new ArrayList<>(m.keySet()), "file order is kept");
    }

    @Test
    void writtenJsonReadsBackAndWritesTheSameBytes() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dtype", "F32");
        m.put("shape", new int[]{320, 4, 3, 3});
        m.put("data_offsets", List.of(0L, 46080L));
        m.put("x", 0.1);
        m.put("nan", Double.NaN);
        m.put("text", "tab\tquote\"back\\slash\u0001");
        m.put("nested", Map.of("k", List.of(Map.of())));
        String text = Json.write(m);
        assertEquals("{\"dtype\":\"F32\",\"shape\":[320,4,3,3],\"data_offsets\":[0,46080],\"x\":0.1,\"nan\":NaN,"
                + "\"text\":\"tab\\tquote\\\"back\\\\slash\\u0001\",\"nested\":{\"k\":[{}]}}", text);
        assertEquals(text, Json.write(Json.parse(text)));
    }

    private static final int DEPTH = 64; // Json.MAX_DEPTH

    /** Hostile input: a one-line IllegalArgumentException, never a StackOverflowError or a trace. */
    @Test
    void deepNestingIsAnErrorNotAStackOverflow() {
        for (String deep : new String[]{"[".repeat(65_000), "{\"a\":".repeat(13_000), "[".repeat(DEPTH + 1) + "]".repeat(DEPTH + 1)}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(deep));
            assertTrue(e.getMessage().contains("nesting depth"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
        String ok = "[".repeat(DEPTH) + "]".repeat(DEPTH);
        assertInstanceOf(List.class, Json.parse(ok));
    }

    @Test
    void malformedInputIsOneLine() {
        for (String bad : new String[]{"", "{", "{\"a\":1,}", "{\"a\":1}x", "[1 2]", "\"\u0001\"", "{\"a\":1,\"a\":2}", "01", "tru"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\":1,\"a\":2}")).getMessage().contains("Duplicate"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Json.parseObject("[]", "config.json"));
        assertEquals("config.json: expected a JSON object", e.getMessage());
    }
}
