package dev.edgediffuse.format;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw data. Tensors are views into the mapping; nothing is copied to the heap.
 * Quantized weights (see {@link QuantizedTensors}) come out as one {@link Weight} each, their scale and zero-point
 * tensors folded in.
 */
public final class SafeTensors implements AutoCloseable {
    private static final java.util.Set<String> INTEGER_DTYPES = java.util.Set.of("I64", "I32", "I16", "I8", "U8", "BOOL");

    private final Path path;
    private final Arena arena;
    private final Map<String, Weight> tensors;
    private final Map<String, String> metadata;
    private final MemorySegment file;
    private final List<String> skipped;

    private SafeTensors(Path path, Arena arena, MemorySegment file, Map<String, Weight> tensors, Map<String, String> metadata,
                        List<String> skipped) {
        this.path = path;
        this.skipped = skipped;
        this.file = file;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafeTensors open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment file = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(path, arena, file, size);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new ModelFormatException(path + ": file not found");
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path + ": cannot read (" + e.getMessage() + ")");
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafeTensors parse(Path path, Arena arena, MemorySegment file, long size) {
        if (size < 8) throw new ModelFormatException(path + ": truncated safetensors file (" + size + " bytes, no header length)");
        long headerLen = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen <= 1 || headerLen > size - 8 || headerLen > 100_000_000L) {
            throw new ModelFormatException(path + ": bad safetensors header length " + headerLen + " for a file of " + size + " bytes");
        }
        byte[] hb = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        Map<String, Object> header = Json.parseObject(new String(hb, StandardCharsets.UTF_8).trim(), path + " header");
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        MemorySegment data = file.asSlice(dataStart, dataSize);
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, QuantizedTensors.Raw> raw = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : header.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                if (e.getValue() instanceof Map<?, ?> m) m.forEach((k, v) -> metadata.put(String.valueOf(k), String.valueOf(v)));
                continue;
            }
            if (!(e.getValue() instanceof Map<?, ?> info)) throw new ModelFormatException(path + ": tensor " + name + " has no descriptor");
            String dtypeName = String.valueOf(info.get("dtype"));
            DType dtype = DType.fromSafetensors(dtypeName);
            if (dtype == null && !INTEGER_DTYPES.contains(dtypeName)) {
                throw new ModelFormatException(path + ": tensor " + name + " has unsupported dtype " + dtypeName);
            }
            int[] shape = intList(path, name, "shape", info.get("shape"));
            int[] offs = intList(path, name, "data_offsets", info.get("data_offsets"));
            if (offs.length != 2) throw new ModelFormatException(path + ": tensor " + name + " data_offsets must have 2 entries");
            long count = 1;
            for (int d : shape) count *= d;
            long begin = Integer.toUnsignedLong(offs[0]), end = Integer.toUnsignedLong(offs[1]);
            if (begin > end || end > dataSize) {
                throw new ModelFormatException(path + ": tensor " + name + " data_offsets [" + begin + ", " + end
                        + "] lie past the end of the data (" + dataSize + " bytes; file truncated?)");
            }
            if (dtype != null && end - begin != count * dtype.bytes) {
                throw new ModelFormatException(path + ": tensor " + name + " has " + (end - begin) + " bytes, shape "
                        + java.util.Arrays.toString(shape) + " of " + dtypeName + " needs " + count * dtype.bytes);
            }
            raw.put(name, new QuantizedTensors.Raw(name, dtypeName, shape, begin, end));
        }
        java.util.Set<String> consumed = new java.util.HashSet<>();
        Map<String, Weight> quantized = QuantizedTensors.assemble(path, metadata, raw, data, arena, consumed);
        Map<String, Weight> tensors = new LinkedHashMap<>();
        List<String> skipped = new java.util.ArrayList<>();
        for (QuantizedTensors.Raw r : raw.values()) {
            Weight q = quantized.get(r.name());
            if (q != null) {
                tensors.put(r.name(), q);
            } else if (consumed.contains(r.name())) {
                continue; // scales and zero points live inside their weight
            } else if (DType.fromSafetensors(r.dtype()) instanceof DType dtype) {
                tensors.put(r.name(), new Weight(r.name(), dtype, r.shape(), data.asSlice(r.begin(), r.end() - r.begin())));
            } else {
                // integer buffers such as text_model.embeddings.position_ids are bookkeeping, not weights: skip them
                skipped.add(r.name());
            }
        }
        return new SafeTensors(path, arena, file, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata), List.copyOf(skipped));
    }

    private static int[] intList(Path path, String tensor, String field, Object v) {
        if (!(v instanceof List<?> l)) throw new ModelFormatException(path + ": tensor " + tensor + " has no " + field + " list");
        int[] out = new int[l.size()];
        for (int k = 0; k < out.length; k++) {
            if (!(l.get(k) instanceof Long n) || n < 0 || n > 0xFFFF_FFFFL) {
                throw new ModelFormatException(path + ": tensor " + tensor + " has a bad " + field + " entry " + l.get(k));
            }
            out[k] = (int) (long) n;
        }
        return out;
    }

    public Path path() {
        return path;
    }

    public Map<String, Weight> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** Integer tensors that are not parts of quantized weights (e.g. position_ids): left out of {@link #tensors()}. */
    public List<String> skippedTensors() {
        return skipped;
    }

    /** Bytes of the whole file. */
    public long fileSize() {
        return file.byteSize();
    }

    /** Reads the whole mapping ahead of use, so the first pass over the weights takes no page faults. */
    public void prefetch() {
        if (!dev.edgediffuse.tensor.Residency.populate(file)) file.load();
    }

    @Override
    public void close() {
        arena.close();
    }
}
