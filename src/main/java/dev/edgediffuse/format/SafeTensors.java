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
    /** Integer dtypes and their element bytes: read past (position ids, counters) or as parts of quantized weights. */
    private static final Map<String, Integer> INTEGER_DTYPES = Map.of("I64", 8, "I32", 4, "I16", 2, "I8", 1, "U8", 1, "BOOL", 1);
    /** A header larger than this is not a checkpoint's (SD1.5's single file has ~200 KB). */
    private static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final int MAX_RANK = 8;

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
        if (headerLen <= 1 || headerLen > size - 8 || headerLen > MAX_HEADER_BYTES) {
            throw new ModelFormatException(path + ": bad safetensors header length " + headerLen + " for a file of " + size + " bytes");
        }
        byte[] hb = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        // duplicate keys are rejected by the parser: the format forbids them, and the last one would silently win
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
            raw.put(name, entry(path, name, e.getValue(), dataSize));
        }
        checkTiling(path, raw.values(), dataSize);
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
            } else if (r.name().endsWith(".weight") || r.name().endsWith(".bias")) {
                // skipping it would leave a later "is missing" that hides the cause
                throw new ModelFormatException(path + ": tensor " + r.name() + " has dtype " + r.dtype() + ", which is not a weight type "
                        + "(F32, F16, BF16, or an edgediffuse quantized format described in " + QuantizedTensors.WEIGHTS_KEY + ")");
            } else {
                // integer buffers such as text_model.embeddings.position_ids are bookkeeping, not weights: skip them
                skipped.add(r.name());
            }
        }
        return new SafeTensors(path, arena, file, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata), List.copyOf(skipped));
    }

    /** One header entry, checked on its own: a known dtype, a shape, offsets in order, inside the data, of the right size. */
    private static QuantizedTensors.Raw entry(Path path, String name, Object value, long dataSize) {
        String where = path + ": tensor " + name;
        if (!(value instanceof Map<?, ?> info)) throw new ModelFormatException(where + " has no descriptor");
        if (!(info.get("dtype") instanceof String dtypeName)) throw new ModelFormatException(where + " has no dtype string");
        DType dtype = DType.fromSafetensors(dtypeName);
        Integer integerBytes = INTEGER_DTYPES.get(dtypeName);
        if (dtype == null && integerBytes == null) throw new ModelFormatException(where + " has unsupported dtype " + dtypeName);
        long elementBytes = dtype != null ? dtype.bytes : integerBytes;
        long[] shape = longList(where, "shape", info.get("shape"), Integer.MAX_VALUE);
        long[] offs = longList(where, "data_offsets", info.get("data_offsets"), Long.MAX_VALUE);
        if (offs.length != 2) throw new ModelFormatException(where + " data_offsets must have 2 entries");
        long begin = offs[0], end = offs[1];
        if (begin > end) throw new ModelFormatException(where + " data_offsets [" + begin + ", " + end + "] are reversed (begin after end)");
        if (end > dataSize) {
            throw new ModelFormatException(where + " data_offsets [" + begin + ", " + end + "] lie past the end of the data ("
                    + dataSize + " bytes; file truncated?)");
        }
        long bytes = elementBytes;
        try {
            for (long d : shape) bytes = Math.multiplyExact(bytes, d);
        } catch (ArithmeticException overflow) {
            throw new ModelFormatException(where + " has shape " + java.util.Arrays.toString(shape) + ", too large for any file");
        }
        if (end - begin != bytes) {
            throw new ModelFormatException(where + " has " + (end - begin) + " bytes, shape " + java.util.Arrays.toString(shape)
                    + " of " + dtypeName + " needs " + bytes);
        }
        int[] dims = new int[shape.length];
        for (int k = 0; k < dims.length; k++) dims[k] = (int) shape[k];
        return new QuantizedTensors.Raw(name, dtypeName, dims, begin, end);
    }

    /**
     * The format's rule that the tensors cover the data exactly, in some order, back to back: an overlap would let two
     * tensors share bytes (one change altering both), a gap or a tail hides bytes no tensor owns.
     */
    private static void checkTiling(Path path, java.util.Collection<QuantizedTensors.Raw> entries, long dataSize) {
        List<QuantizedTensors.Raw> sorted = new java.util.ArrayList<>(entries);
        sorted.sort(java.util.Comparator.comparingLong(QuantizedTensors.Raw::begin).thenComparingLong(QuantizedTensors.Raw::end));
        long covered = 0;
        QuantizedTensors.Raw previous = null;
        for (QuantizedTensors.Raw r : sorted) {
            if (r.begin() < covered) {
                throw new ModelFormatException(path + ": tensor " + r.name() + " data_offsets [" + r.begin() + ", " + r.end()
                        + "] overlap tensor " + previous.name() + " [" + previous.begin() + ", " + previous.end() + "]");
            }
            if (r.begin() > covered) {
                throw new ModelFormatException(path + ": " + (r.begin() - covered) + " bytes at data offset " + covered
                        + " belong to no tensor (a gap before tensor " + r.name() + ")");
            }
            covered = r.end();
            previous = r;
        }
        if (covered != dataSize) {
            throw new ModelFormatException(path + ": " + (dataSize - covered) + " bytes after data offset " + covered
                    + " belong to no tensor (the format allows no trailing data)");
        }
    }

    private static long[] longList(String where, String field, Object v, long max) {
        if (!(v instanceof List<?> l)) throw new ModelFormatException(where + " has no " + field + " list");
        if (l.size() > MAX_RANK && field.equals("shape")) throw new ModelFormatException(where + " has " + l.size() + " dimensions");
        long[] out = new long[l.size()];
        for (int k = 0; k < out.length; k++) {
            if (!(l.get(k) instanceof Long n) || n < 0 || n > max) {
                throw new ModelFormatException(where + " has a bad " + field + " entry " + l.get(k));
            }
            out[k] = n;
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
