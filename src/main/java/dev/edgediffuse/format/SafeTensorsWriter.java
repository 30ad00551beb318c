package dev.edgediffuse.format;

import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.io.OutputStream;
import java.io.BufferedOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes a safetensors file (F32, F16 or BF16 tensors plus string metadata), atomically via a temporary file. */
public final class SafeTensorsWriter {
    /** Produces a tensor's values in chunks, so multi-GB checkpoints are written without holding them in memory. */
    public interface Filler {
        void fill(long offset, float[] dst, int count);
    }

    private record Entry(String name, DType dtype, int[] shape, long count, Filler filler) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter add(String name, DType dtype, float[] values, int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n != values.length) throw new IllegalArgumentException(name + ": " + values.length + " values for shape " + java.util.Arrays.toString(shape));
        entries.add(new Entry(name, dtype, shape.clone(), n, (off, dst, cnt) -> System.arraycopy(values, (int) off, dst, 0, cnt)));
        return this;
    }

    public SafeTensorsWriter add(String name, DType dtype, int[] shape, Filler filler) {
        long n = 1;
        for (int d : shape) n *= d;
        entries.add(new Entry(name, dtype, shape.clone(), n, filler));
        return this;
    }

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public void write(Path path) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
        long offset = 0;
        for (Entry e : entries) {
            long bytes = e.count * e.dtype.bytes;
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("dtype", e.dtype.safetensorsName);
            List<Object> shape = new ArrayList<>();
            for (int s : e.shape) shape.add(s);
            d.put("shape", shape);
            d.put("data_offsets", List.of(offset, offset + bytes));
            header.put(e.name, d);
            offset += bytes;
        }
        byte[] hb = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (hb.length + 7) / 8 * 8;
        Path dir = path.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, path.getFileName().toString(), ".part");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(hb);
            for (int k = hb.length; k < padded; k++) out.write(' ');
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            float[] chunk = new float[1 << 14];
            for (Entry e : entries) {
                for (long off = 0; off < e.count; off += chunk.length) {
                    int n = (int) Math.min(chunk.length, e.count - off);
                    e.filler.fill(off, chunk, n);
                    for (int k = 0; k < n; k++) {
                        if (buf.remaining() < 4) flush(buf, out);
                        float v = chunk[k];
                        switch (e.dtype) {
                            case F32 -> buf.putFloat(v);
                            case F16 -> buf.putShort(Float.floatToFloat16(v));
                            case BF16 -> buf.putShort(toBf16(v));
                        }
                    }
                }
            }
            flush(buf, out);
        } catch (IOException | RuntimeException ex) {
            Files.deleteIfExists(tmp);
            throw ex;
        }
        Files.move(tmp, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** Round-to-nearest-even conversion, as torch does. */
    static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    private static void flush(ByteBuffer buf, OutputStream out) throws IOException {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }
}
