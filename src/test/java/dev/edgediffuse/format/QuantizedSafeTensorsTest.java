package dev.edgediffuse.format;

import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;
import dev.edgediffuse.tensor.Residency;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** Quantized weights in safetensors files: mapped round trips, foreign part orders, and every inconsistency refused. */
class QuantizedSafeTensorsTest {
    @TempDir
    Path dir;

    static Weight quantized(String name, DType t, long seed, int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        float[] v = new float[(int) n];
        Random r = new Random(seed);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian() * 0.1f;
        return Quantizer.quantize(Weight.ofFloats(name, v, shape), t, Quantizer.Clip.ABSMAX);
    }

    static byte[] bytes(Weight w) {
        return w.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    /** A file holding {@code weights} the way the converter writes them, plus metadata naming their formats. */
    static void write(Path p, Weight... weights) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        Map<String, Object> formats = new LinkedHashMap<>();
        for (Weight q : weights) {
            if (q.dtype().quantized()) QuantizedTensors.add(w, q.name(), q.dtype(), q.shape(), () -> bytes(q));
            else w.add(q.name(), q.dtype(), q.shape(), (off, dst, n) -> q.copyTo(off, dst, 0, n));
            formats.put(q.name(), QuantizedTensors.describe(q.dtype(), q.shape()));
        }
        w.metadata(QuantizedTensors.WEIGHTS_KEY, Json.write(formats)).metadata(QuantizedTensors.VERSION_KEY, "1").write(p);
    }

    @Test
    void quantizedWeightsLoadMappedAsOneWeightEach() throws IOException {
        Weight lin = quantized("lin.weight", DType.Q4_32, 1, 40, 64);
        Weight conv = quantized("conv.weight", DType.Q8, 2, 24, 8, 3, 3);
        Weight z = quantized("z.weight", DType.Q4_64Z, 3, 8, 128);
        Weight g8 = quantized("g8.weight", DType.Q8_32, 4, 16, 96);
        Weight bias = Weight.ofFloats("bias", new float[]{0.5f, -1f, 2f}, 3);
        Path p = dir.resolve("q.safetensors");
        write(p, lin, conv, z, g8, bias);
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(Set.of("lin.weight", "conv.weight", "z.weight", "g8.weight", "bias"), st.tensors().keySet(),
                    "scales and zeros are folded into their weights, not model tensors");
            for (Weight expected : new Weight[]{lin, conv, z, g8}) {
                Weight got = st.tensors().get(expected.name());
                assertEquals(expected.dtype(), got.dtype());
                assertArrayEquals(expected.shape(), got.shape());
                assertTrue(got.data().isMapped(), expected.name() + " stays memory-mapped");
                assertArrayEquals(expected.toFloats(), got.toFloats(), expected.name());
                // residency hints cover the whole weight, scales included, and never change values
                Residency.acquire(got.data());
                Residency.release(got.data());
                assertArrayEquals(expected.toFloats(), got.toFloats(), expected.name() + " after release");
            }
            assertArrayEquals(new float[]{0.5f, -1f, 2f}, st.tensors().get("bias").toFloats());
            assertTrue(st.metadata().get(QuantizedTensors.WEIGHTS_KEY).contains("\"q4_32\""));
        }
    }

    @Test
    void partsStoredApartAreGatheredByCopy() throws IOException {
        Weight q = quantized("w", DType.Q4_32Z, 5, 6, 64);
        QuantLayout l = q.quantLayout();
        byte[] b = bytes(q);
        Path p = dir.resolve("apart.safetensors");
        // as another tool might save it: zeros, then scales, then codes
        new SafeTensorsWriter()
                .addRaw("w.zeros", "U8", new int[]{6, 2}, l.zeroBytes(), o -> o.write(b, (int) l.zerosOffset(), (int) l.zeroBytes()))
                .addRaw("w.scales", "F16", new int[]{6, 2}, 24, o -> o.write(b, (int) l.scalesOffset(), 24))
                .addRaw("w", "U8", new int[]{6, 32}, l.codeBytes(), o -> o.write(b, 0, (int) l.codeBytes()))
                .metadata(QuantizedTensors.WEIGHTS_KEY, "{\"w\":{\"format\":\"q4_32z\",\"shape\":[6,64]}}").write(p);
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(Set.of("w"), st.tensors().keySet());
            assertArrayEquals(q.toFloats(), st.tensors().get("w").toFloats());
        }
    }

    private String failure(String metadata, SafeTensorsWriter w) throws IOException {
        Path p = dir.resolve("bad-" + System.nanoTime() + ".safetensors");
        if (metadata != null) w.metadata(QuantizedTensors.WEIGHTS_KEY, metadata);
        w.write(p);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafeTensors.open(p).close());
        assertTrue(e.getMessage().startsWith(p.toString()), "names the file: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    /** Codes and scales of a q8_32 weight [4][64] (two groups per row). */
    private static SafeTensorsWriter q8Parts(String codesDtype, int[] scaleShape) {
        long scaleBytes = 2L * scaleShape[0] * scaleShape[1];
        return new SafeTensorsWriter()
                .addRaw("w", codesDtype, new int[]{4, 64}, 256, o -> o.write(new byte[256]))
                .addRaw("w.scales", "F16", scaleShape, scaleBytes, o -> o.write(new byte[(int) scaleBytes]));
    }

    private static final String Q8_32 = "{\"w\":{\"format\":\"q8_32\",\"shape\":[4,64]}}";

    @Test
    void inconsistentFilesFailNamingTheTensor() throws IOException {
        String m = failure("{\"w\":{\"format\":\"q3_k\",\"shape\":[4,64]}}", q8Parts("I8", new int[]{4, 2}));
        assertTrue(m.contains("tensor w") && m.contains("unknown weight format 'q3_k'"), m);

        m = failure(Q8_32, q8Parts("I8", new int[]{4, 3}));
        assertTrue(m.contains("tensor w.scales") && m.contains("[4, 3], expected F16 [4, 2]"), m);

        m = failure("{\"w\":{\"format\":\"q4_32\",\"shape\":[4,48]}}", q8Parts("U8", new int[]{4, 2}));
        assertTrue(m.contains("tensor w") && m.contains("multiple of 32"), m);

        m = failure(Q8_32, q8Parts("U8", new int[]{4, 2}));
        assertTrue(m.contains("tensor w is U8") && m.contains("expected I8"), m);

        m = failure(Q8_32, new SafeTensorsWriter().addRaw("w", "I8", new int[]{4, 64}, 256, o -> o.write(new byte[256])));
        assertTrue(m.contains("tensor w.scales is missing"), m);

        m = failure(Q8_32, q8Parts("I8", new int[]{4, 2}).addRaw("w.zeros", "U8", new int[]{4, 2}, 8, o -> o.write(new byte[8])));
        assertTrue(m.contains("has a .zeros tensor") && m.contains("no zero point"), m);

        m = failure(null, q8Parts("I8", new int[]{4, 2}));
        assertTrue(m.contains("tensor w looks quantized") && m.contains(QuantizedTensors.WEIGHTS_KEY), m);

        m = failure("{\"gone\":{\"format\":\"q8\",\"shape\":[4,64]}}", q8Parts("I8", new int[]{4, 2}));
        assertTrue(m.contains("tensor gone is named in") && m.contains("not in the file"), m);

        m = failure("{\"b\":{\"format\":\"f16\"}}", new SafeTensorsWriter().add("b", DType.F32, new float[2], 2));
        assertTrue(m.contains("tensor b is F32") && m.contains("says f16"), m);

        m = failure("{\"w\":{\"format\":\"q8_32\"}}", q8Parts("I8", new int[]{4, 2}));
        assertTrue(m.contains("tensor w") && m.contains("\"shape\""), m);

        SafeTensorsWriter future = q8Parts("I8", new int[]{4, 2}).metadata(QuantizedTensors.VERSION_KEY, "2");
        m = failure(Q8_32, future);
        assertTrue(m.contains("layout version 2"), m);
    }

    /** A logical shape whose row length wraps around an int must not match the parts' shapes (nor size a copy). */
    @Test
    void aLogicalShapeThatWrapsAroundIsRefused() throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter()
                .addRaw("w", "I8", new int[]{1, 65536}, 65536, o -> o.write(new byte[65536]))
                .addRaw("w.scales", "F32", new int[]{1}, 4, o -> o.write(new byte[4]));
        String m = failure("{\"w\":{\"format\":\"q8\",\"shape\":[1,65536,65537]}}", w);
        assertTrue(m.contains("tensor w") && m.contains("too long"), m);
        m = failure("{\"w\":{\"format\":\"q8\",\"shape\":[1,2147483647,2147483647,2147483647,2147483647]}}",
                new SafeTensorsWriter().addRaw("w", "I8", new int[]{1, 1}, 1, o -> o.write(0)));
        assertTrue(m.contains("tensor w") && m.contains("too large"), m);
    }

    @Test
    void quantizedTypesAreNotWrittenAsFloats() {
        assertThrows(IllegalArgumentException.class, () -> new SafeTensorsWriter().add("w", DType.Q8, new int[]{2, 2}, (o, d, n) -> {}));
        assertThrows(IllegalArgumentException.class, () -> new Weight("w", DType.Q8, new int[]{2, 2}, MemorySegment.ofArray(new byte[3])));
    }
}
