package dev.edgediffuse.format;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripsEveryDtypeThroughTheMapping() throws IOException {
        float[] v = {1f, -2.5f, 3.1415927f, 65504f, 1e-3f, 0f};
        Path p = dir.resolve("m.safetensors");
        new SafeTensorsWriter().add("a", DType.F32, v, 2, 3).add("b", DType.F16, v, 6).add("c", DType.BF16, v, 3, 2)
                .metadata("format", "pt").write(p);
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals("pt", st.metadata().get("format"));
            Weight a = st.tensors().get("a"), b = st.tensors().get("b"), c = st.tensors().get("c");
            assertArrayEquals(new int[]{2, 3}, a.shape());
            assertArrayEquals(v, a.toFloats());
            float[] half = b.toFloats(), bf = c.toFloats();
            for (int i = 0; i < v.length; i++) {
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(v[i])), half[i], "f16 " + i);
                assertEquals(v[i], bf[i], Math.abs(v[i]) / 128 + 1e-30, "bf16 " + i);
            }
            assertTrue(a.data().isMapped(), "weights stay memory-mapped");
        }
    }

    @Test
    void integerBuffersLikePositionIdsAreSkipped() {
        Path p = dir.resolve("hand.safetensors");
        writeRaw(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"text_model.embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[8,24]}}", 24);
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(2, st.tensors().get("x").size());
            assertFalse(st.tensors().containsKey("text_model.embeddings.position_ids"));
        }
    }

    private static void writeRaw(Path p, String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        try {
            Files.write(p, b.array());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private String errorOf(Path p) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafeTensors.open(p).close());
        assertFalse(e.getMessage().contains("\n"), "one line");
        assertTrue(e.getMessage().contains(p.toString()), "names the file: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void badFilesGiveOneLineErrorsNamingFileAndTensor() throws IOException {
        Path missing = dir.resolve("nope.safetensors");
        assertTrue(errorOf(missing).contains("not found"));

        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[]{1, 2, 3});
        assertTrue(errorOf(tiny).contains("truncated"));

        Path badLen = dir.resolve("badlen.safetensors");
        Files.write(badLen, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1_000_000).array());
        assertTrue(errorOf(badLen).contains("header length"));

        Path notJson = dir.resolve("notjson.safetensors");
        writeRaw(notJson, "{\"x\": [1,2", 0);
        assertTrue(errorOf(notJson).contains("invalid JSON"));

        Path past = dir.resolve("past.safetensors");
        writeRaw(past, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        String m = errorOf(past);
        assertTrue(m.contains("tensor w") && m.contains("past the end"), m);

        Path dtype = dir.resolve("dtype.safetensors");
        writeRaw(dtype, "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        m = errorOf(dtype);
        assertTrue(m.contains("tensor w") && m.contains("F8_E4M3"), m);

        Path size = dir.resolve("size.safetensors");
        writeRaw(size, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
        assertTrue(errorOf(size).contains("tensor w"));
    }

    /** Headers that describe the data dishonestly: each is refused, naming the tensor, as the format requires. */
    @Test
    void overlapsGapsDuplicatesAndReversedOffsetsAreRejected() {
        String f = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":";
        Path overlap = dir.resolve("overlap.safetensors");
        // b's bytes lie inside a's: changing one would change both
        writeRaw(overlap, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":" + f + "[4,12]}}", 16);
        String m = errorOf(overlap);
        assertTrue(m.contains("tensor b") && m.contains("overlap tensor a"), m);

        Path same = dir.resolve("same.safetensors");
        writeRaw(same, "{\"a\":" + f + "[0,8]},\"b\":" + f + "[0,8]}}", 8);
        assertTrue(errorOf(same).contains("overlap"));

        Path dup = dir.resolve("dup.safetensors");
        writeRaw(dup, "{\"a\":" + f + "[0,8]},\"a\":" + f + "[8,16]}}", 16);
        m = errorOf(dup);
        assertTrue(m.contains("Duplicate") && m.contains("'a'"), m);

        Path gap = dir.resolve("gap.safetensors");
        writeRaw(gap, "{\"a\":" + f + "[0,8]},\"b\":" + f + "[12,20]}}", 20);
        m = errorOf(gap);
        assertTrue(m.contains("4 bytes at data offset 8 belong to no tensor") && m.contains("tensor b"), m);

        Path tail = dir.resolve("tail.safetensors");
        writeRaw(tail, "{\"a\":" + f + "[0,8]}}", 12);
        assertTrue(errorOf(tail).contains("4 bytes after data offset 8 belong to no tensor"));

        Path reversed = dir.resolve("reversed.safetensors");
        writeRaw(reversed, "{\"a\":" + f + "[8,0]}}", 8);
        m = errorOf(reversed);
        assertTrue(m.contains("tensor a") && m.contains("reversed") && !m.contains("past the end"), m);

        Path huge = dir.resolve("huge.safetensors");
        writeRaw(huge, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8);
        assertTrue(errorOf(huge).contains("too large"));

        // a weight stored as integers is named as such, not reported missing later
        Path i64 = dir.resolve("i64.safetensors");
        writeRaw(i64, "{\"conv_in.weight\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
        m = errorOf(i64);
        assertTrue(m.contains("tensor conv_in.weight has dtype I64") && m.contains("not a weight type"), m);
    }

    @Test
    void truncatedCopyOfAValidFileIsRejected() throws IOException {
        Path p = dir.resolve("full.safetensors");
        new SafeTensorsWriter().add("big", DType.F32, new float[1000], 10, 100).write(p);
        byte[] all = Files.readAllBytes(p);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 100));
        assertTrue(errorOf(cut).contains("tensor big"));
    }

    @Test
    void releasedWeightsReadBackIntactFromThePageCache() throws IOException {
        float[] v = new float[300_000];
        for (int i = 0; i < v.length; i++) v[i] = i * 0.5f - 7;
        Path p = dir.resolve("big.safetensors");
        new SafeTensorsWriter().add("w", DType.F32, v, 600, 500).write(p);
        try (SafeTensors st = SafeTensors.open(p)) {
            Weight w = st.tensors().get("w");
            dev.edgediffuse.tensor.Residency.acquire(w.data());
            assertArrayEquals(v, w.toFloats());
            dev.edgediffuse.tensor.Residency.release(w.data());
            assertArrayEquals(v, w.toFloats(), "pages dropped from the resident set fault back in unchanged");
        }
    }

    @Test
    void npyRoundTrip() throws IOException {
        Path p = dir.resolve("a.npy");
        float[] v = {1, 2, 3, 4, 5, 6};
        Npy.write(p, v, 1, 2, 3);
        Npy.Array a = Npy.read(p);
        assertArrayEquals(new int[]{1, 2, 3}, a.shape());
        assertArrayEquals(v, a.data());
        Files.write(p, java.util.Arrays.copyOf(Files.readAllBytes(p), 100));
        assertThrows(ModelFormatException.class, () -> Npy.read(p));
    }
}
