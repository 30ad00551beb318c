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

/**
 * Writes a safetensors file (F32, F16 or BF16 tensors from floats, raw-byte tensors of any dtype, string metadata),
 * atomically via a temporary file. Tensors are written in the order they were added, back to back.
 */
public final class SafeTensorsWriter {
    /** Produces a tensor's values in chunks, so multi-GB checkpoints are written without holding them in memory. */
    public interface Filler {
        void fill(long offset, float[] dst, int count);
    }

    /** Writes a raw tensor's bytes, exactly as many as were declared, when the file body reaches it. */
    public interface ByteSource {
        void writeTo(OutputStream out) throws IOException;
    }

    /** A float tensor (filler set) or a raw one (bytes set). */
    private record Entry(String name, String dtypeName, DType dtype, int[] shape, long count, long byteCount, Filler filler, ByteSource bytes) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter add(String name, DType dtype, float[] values, int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n != values.length) throw new IllegalArgumentException(name + ": " + values.length + " values for shape " + java.util.Arrays.toString(shape));
        return add(name, dtype, shape, (off, dst, cnt) -> System.arraycopy(values, (int) off, dst, 0, cnt));
    }

    public SafeTensorsWriter add(String name, DType dtype, int[] shape, Filler filler) {
        if (dtype.quantized()) throw new IllegalArgumentException(name + ": " + dtype.formatName() + " is stored as raw tensors, not floats");
        long n = 1;
        for (int d : shape) n *= d;
        entries.add(new Entry(name, dtype.safetensorsName, dtype, shape.clone(), n, n * dtype.bytes, filler, null));
        return this;
    }

    /** A tensor of {@code byteCount} raw little-endian bytes of safetensors dtype {@code dtypeName} (I8, U8, F16...). */
    public SafeTensorsWriter addRaw(String name, String dtypeName, int[] shape, long byteCount, ByteSource bytes) {
        long n = 1;
        for (int d : shape) n *= d;
        entries.add(new Entry(name, dtypeName, null, shape.clone(), n, byteCount, null, bytes));
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
            long bytes = e.byteCount;
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("dtype", e.dtypeName);
            List<Object> shape = new ArrayList<>();
            for (int s : e.shape) shape.add(s);
            d.put("shape", shape);
            d.put("data_offsets", List.of(offset, offset + bytes));
            header.put(e.name, d);
            offset += bytes;
        }
        byte[] hb = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (hb.length + 7) / 8 * 8;
        Path tmp = AtomicFiles.createSibling(path);
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(hb);
            for (int k = hb.length; k < padded; k++) out.write(' ');
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            float[] chunk = new float[1 << 14];
            for (Entry e : entries) {
                if (e.bytes != null) {
                    flush(buf, out);
                    writeRaw(e, out);
                    continue;
                }
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
                            default -> throw new IllegalStateException(e.dtype + " is not a float type");
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

    /** A raw tensor's bytes, checked against the declared size: a short or long write would shift every later tensor. */
    private static void writeRaw(Entry e, OutputStream out) throws IOException {
        long[] written = {0};
        e.bytes.writeTo(new java.io.FilterOutputStream(out) {
            @Override
            public void write(int b) throws IOException {
                out.write(b);
                written[0]++;
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
                written[0] += len;
            }
        });
        if (written[0] != e.byteCount) {
            throw new IllegalStateException(e.name + ": wrote " + written[0] + " bytes, declared " + e.byteCount);
        }
    }

    /** Round-to-nearest-even conversion, as torch does. */
    public static short toBf16(float v) {
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
