package dev.edgediffuse.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A named tensor that stays where it was loaded from (usually a memory-mapped safetensors file),
 * read in its own dtype and converted to float on use. A quantized weight keeps codes, scales and zero points
 * together in {@code data} (see {@link QuantLayout}), so renaming or reshaping it keeps it whole.
 */
public record Weight(String name, DType dtype, int[] shape, MemorySegment data) {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Weight {
        // a quantized segment of the wrong size would decode garbage; fail where it is made instead
        if (dtype.quantized()) {
            long need;
            try {
                need = QuantLayout.of(dtype, shape).totalBytes();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(name + ": " + e.getMessage());
            }
            if (data.byteSize() != need) {
                throw new IllegalArgumentException(name + ": " + dtype.formatName() + " " + Arrays.toString(shape)
                        + " needs " + need + " bytes, got " + data.byteSize());
            }
        }
    }

    public long size() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    public float get(long index) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, index);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, index));
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16, index) << 16);
            default -> Dequantize.get(quantLayout(), data, index);
        };
    }

    /** Converts {@code count} elements starting at {@code from} into {@code dst}. */
    public void copyTo(long from, float[] dst, int dstOff, int count) {
        copyTo(from, dst, dstOff, count, dtype.quantized() ? quantLayout() : null);
    }

    /** As {@link #copyTo(long, float[], int, int)} with {@link #quantLayout} made once by a caller that converts often. */
    public void copyTo(long from, float[] dst, int dstOff, int count, QuantLayout layout) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, from * 4, dst, dstOff, count);
            case F16 -> {
                for (int k = 0; k < count; k++) dst[dstOff + k] = Float.float16ToFloat(data.getAtIndex(I16, from + k));
            }
            case BF16 -> {
                for (int k = 0; k < count; k++) dst[dstOff + k] = Float.intBitsToFloat(data.getAtIndex(I16, from + k) << 16);
            }
            default -> Dequantize.copyTo(layout, data, from, dst, dstOff, count);
        }
    }

    /** The layout of a quantized weight's storage; fails for float types. */
    public QuantLayout quantLayout() {
        return QuantLayout.of(dtype, shape);
    }

    /** The whole tensor as floats on the heap; meant for small tensors (biases, norms, embeddings). */
    public float[] toFloats() {
        long n = size();
        if (n > Integer.MAX_VALUE) throw new IllegalStateException(name + " is too large to copy to the heap");
        float[] out = new float[(int) n];
        copyTo(0, out, 0, (int) n);
        return out;
    }

    /**
     * The float array this weight lives in when it is a whole heap F32 array (a trainable parameter), else null:
     * layers read such weights in place, so an optimizer's updates reach them.
     */
    public float[] heapArray() {
        if (dtype != DType.F32 || data.isNative()) return null;
        return data.heapBase().orElse(null) instanceof float[] a && (long) a.length * 4 == data.byteSize() ? a : null;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** A weight of these values in a float format (f32, f16 or bf16), on the heap: a trained or pruned tensor to write. */
    public static Weight of(String name, DType dtype, float[] values, int... shape) {
        return switch (dtype) {
            case F32 -> ofFloats(name, values, shape);
            case F16, BF16 -> {
                MemorySegment seg = MemorySegment.ofArray(new short[values.length]);
                for (int i = 0; i < values.length; i++) {
                    float v = values[i];
                    seg.setAtIndex(I16, i, dtype == DType.F16 ? Float.floatToFloat16(v) : (short) (Float.floatToRawIntBits(v) >>> 16));
                }
                yield new Weight(name, dtype, shape.clone(), seg);
            }
            default -> throw new IllegalArgumentException(name + ": " + dtype.formatName() + " is not a float format");
        };
    }

    /** Builds an F32 weight backed by a heap array (tests, generated models). */
    public static Weight ofFloats(String name, float[] values, int... shape) {
        MemorySegment seg = MemorySegment.ofArray(values.clone());
        return new Weight(name, DType.F32, shape.clone(), seg);
    }
}
