package dev.edgediffuse.format;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Quantized weights in safetensors files. A weight {@code name} of a quantized type is stored as plain tensors any
 * safetensors reader can open, in this order, back to back:
 * <ul>
 * <li>{@code name}: the codes, I8 [N][K] (8-bit) or U8 [N][K/2] (4-bit, two codes per byte)</li>
 * <li>{@code name.scales}: F32 [N] (q8) or F16 [N][K/group]</li>
 * <li>{@code name.zeros}: U8 [N][K/group] (zero-point types only)</li>
 * </ul>
 * The metadata key {@value #WEIGHTS_KEY} holds a JSON object naming every weight's format ({@code {"format":"f16"}}),
 * and for quantized weights their logical shape ({@code {"format":"q4_32","shape":[320,320,3,3]}}). Written back to
 * back, the three tensors are exactly the {@link QuantLayout} of the weight, so the loader hands out a slice of the
 * mapping; parts stored elsewhere (a file re-saved by another tool) are copied together instead.
 */
public final class QuantizedTensors {
    public static final String WEIGHTS_KEY = "edgediffuse.weights";
    public static final String VERSION_KEY = "edgediffuse.quant_version";
    public static final String VERSION = "1";
    public static final String LAYOUT_KEY = "edgediffuse.quant_layout";
    public static final String LAYOUT_TEXT = "value = (code - zero) * scale per group of K = prod(shape[1:]); "
            + "codes I8 [N,K] or U8 [N,K/2] (group byte j: low nibble element j, high nibble element j+group/2); "
            + "<name>.scales F32 [N] (q8) or F16 [N,K/group]; <name>.zeros U8 [N,K/group] (z formats), "
            + "zero = 8 for q4 without zeros, 0 for q8";

    /** A tensor as the header describes it, before it becomes a {@link Weight}. */
    record Raw(String name, String dtype, int[] shape, long begin, long end) {}

    private QuantizedTensors() {}

    /** The metadata entry describing one weight. */
    public static Map<String, Object> describe(DType type, int[] shape) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", type.formatName());
        if (type.quantized()) m.put("shape", shape.clone());
        return m;
    }

    /** Adds a quantized weight's tensors; {@code storage} yields its layout bytes (codes ‖ scales ‖ zeros) once. */
    public static void add(SafeTensorsWriter w, String name, DType type, int[] shape, Supplier<byte[]> storage) {
        QuantLayout l = QuantLayout.of(type, shape);
        byte[][] held = new byte[1][];
        // the codes are written first: quantize then, keep the bytes for the scales and zeros, drop them after
        w.addRaw(name, type.bits == 8 ? "I8" : "U8", new int[]{(int) l.rows(), (int) l.codeBytesPerRow()}, l.codeBytes(), out -> {
            held[0] = storage.get();
            if (held[0].length != l.totalBytes()) throw new IllegalStateException(name + ": storage of " + held[0].length + " bytes, layout needs " + l.totalBytes());
            out.write(held[0], 0, (int) l.codeBytes());
        });
        int[] groupShape = type.group == 0 ? new int[]{(int) l.rows()} : new int[]{(int) l.rows(), (int) l.groupsPerRow()};
        long scaleBytes = l.groups() * l.scaleBytes();
        w.addRaw(name + ".scales", l.scaleBytes() == 4 ? "F32" : "F16", groupShape, scaleBytes, out -> {
            out.write(held[0], (int) l.scalesOffset(), (int) scaleBytes);
            if (!type.zeroPoint) held[0] = null;
        });
        if (type.zeroPoint) {
            w.addRaw(name + ".zeros", "U8", groupShape, l.zeroBytes(), out -> {
                out.write(held[0], (int) l.zerosOffset(), (int) l.zeroBytes());
                held[0] = null;
            });
        }
    }

    /**
     * The weights {@value #WEIGHTS_KEY} describes as quantized, each one {@link Weight} over its three tensors; the
     * names of all tensors used up (codes, scales, zeros) are added to {@code consumed}. Float weights named there
     * are only checked against their header dtype. Every inconsistency fails, naming the file and tensor.
     */
    static Map<String, Weight> assemble(Path path, Map<String, String> metadata, Map<String, Raw> raw, MemorySegment data,
                                        Arena arena, Set<String> consumed) {
        Map<String, Weight> out = new LinkedHashMap<>();
        String spec = metadata.get(WEIGHTS_KEY);
        if (spec == null) {
            for (Raw r : raw.values()) {
                if ((r.dtype.equals("I8") || r.dtype.equals("U8")) && raw.containsKey(r.name + ".scales")) {
                    throw new ModelFormatException(path + ": tensor " + r.name + " looks quantized (it has " + r.name
                            + ".scales) but the file has no " + WEIGHTS_KEY + " metadata describing it");
                }
            }
            return out;
        }
        String version = metadata.getOrDefault(VERSION_KEY, VERSION);
        if (!version.equals(VERSION)) {
            throw new ModelFormatException(path + ": quantized weights of layout version " + version + " (this build reads " + VERSION + ")");
        }
        Map<String, Object> specs = Json.parseObject(spec, path + ": metadata " + WEIGHTS_KEY);
        for (Map.Entry<String, Object> e : specs.entrySet()) {
            String name = e.getKey();
            String where = path + ": tensor " + name;
            if (!(e.getValue() instanceof Map<?, ?> m) || !(m.get("format") instanceof String formatName)) {
                throw new ModelFormatException(where + ": " + WEIGHTS_KEY + " entry needs a \"format\" string");
            }
            DType type = DType.fromFormatName(formatName);
            if (type == null) throw new ModelFormatException(where + " has unknown weight format '" + formatName + "'");
            Raw codes = raw.get(name);
            if (codes == null) throw new ModelFormatException(where + " is named in " + WEIGHTS_KEY + " but is not in the file");
            if (!type.quantized()) {
                if (!codes.dtype.equals(type.safetensorsName)) {
                    throw new ModelFormatException(where + " is " + codes.dtype + " but " + WEIGHTS_KEY + " says " + formatName);
                }
                continue;
            }
            int[] shape = shape(where, m.get("shape"));
            QuantLayout l;
            try {
                l = QuantLayout.of(type, shape);
            } catch (IllegalArgumentException ex) {
                throw new ModelFormatException(where + " " + Arrays.toString(shape) + ": " + ex.getMessage());
            }
            if (l.codeBytesPerRow() > Integer.MAX_VALUE) {
                // the parts' header shapes are ints: a larger logical shape cannot match them except by wrapping around
                throw new ModelFormatException(where + " " + Arrays.toString(shape) + ": rows of " + l.k() + " elements are too long");
            }
            int rows = (int) l.rows(), perRow = (int) l.groupsPerRow();
            expect(where, codes, type.bits == 8 ? "I8" : "U8", new int[]{rows, (int) l.codeBytesPerRow()}, 1);
            Raw scales = part(path, raw, name + ".scales");
            int[] groupShape = type.group == 0 ? new int[]{rows} : new int[]{rows, perRow};
            expect(path + ": tensor " + scales.name, scales, l.scaleBytes() == 4 ? "F32" : "F16", groupShape, l.scaleBytes());
            Raw zeros = raw.get(name + ".zeros");
            if (type.zeroPoint) {
                zeros = part(path, raw, name + ".zeros");
                expect(path + ": tensor " + zeros.name, zeros, "U8", groupShape, 1);
            } else if (zeros != null) {
                throw new ModelFormatException(where + " has a .zeros tensor but format " + formatName + " has no zero point");
            }
            MemorySegment seg;
            if (scales.begin == codes.end && (zeros == null || zeros.begin == scales.end)) {
                seg = data.asSlice(codes.begin, l.totalBytes());
            } else {
                seg = arena.allocate(l.totalBytes(), 16);
                MemorySegment.copy(data, codes.begin, seg, 0, l.codeBytes());
                MemorySegment.copy(data, scales.begin, seg, l.scalesOffset(), scales.end - scales.begin);
                if (zeros != null) MemorySegment.copy(data, zeros.begin, seg, l.zerosOffset(), l.zeroBytes());
            }
            out.put(name, new Weight(name, type, shape, seg));
            consumed.add(name);
            consumed.add(scales.name);
            if (zeros != null) consumed.add(zeros.name);
        }
        return out;
    }

    private static Raw part(Path path, Map<String, Raw> raw, String name) {
        Raw r = raw.get(name);
        if (r == null) throw new ModelFormatException(path + ": tensor " + name + " is missing (quantized weights need their scales and zeros)");
        return r;
    }

    private static void expect(String where, Raw r, String dtype, int[] shape, int elementBytes) {
        if (!r.dtype.equals(dtype) || !Arrays.equals(r.shape, shape)) {
            throw new ModelFormatException(where + " is " + r.dtype + " " + Arrays.toString(r.shape) + ", expected "
                    + dtype + " " + Arrays.toString(shape));
        }
        long n = elementBytes;
        for (int d : shape) n *= d;
        if (r.end - r.begin != n) throw new ModelFormatException(where + " has " + (r.end - r.begin) + " bytes, expected " + n);
    }

    private static int[] shape(String where, Object v) {
        if (!(v instanceof List<?> l) || l.isEmpty()) throw new ModelFormatException(where + ": " + WEIGHTS_KEY + " entry needs a \"shape\" list");
        int[] out = new int[l.size()];
        for (int k = 0; k < out.length; k++) {
            if (!(l.get(k) instanceof Long n) || n <= 0 || n > Integer.MAX_VALUE) {
                throw new ModelFormatException(where + ": bad shape entry " + l.get(k) + " in " + WEIGHTS_KEY);
            }
            out[k] = (int) (long) n;
        }
        return out;
    }
}
