package dev.edgediffuse.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Where the parts of a quantized weight [rows][k] lie in its one storage segment: codes, then scales, then zero
 * points — the same bytes, in the same order, as the three safetensors tensors {@code name}, {@code name.scales},
 * {@code name.zeros} a converted file holds, so a mapped file needs no copy.
 * <ul>
 * <li>codes: 8-bit types one signed byte per element ([rows][k] I8); 4-bit types one byte per two elements
 * ([rows][k/2] U8): within each group of g elements, byte j holds element j in its low nibble and element j + g/2
 * in its high nibble (the split order lets a decoder write two contiguous runs)</li>
 * <li>scales: Q8 one f32 per row ([rows] F32); the grouped types one f16 per group ([rows][k/g] F16)</li>
 * <li>zeros (Z types): one unsigned byte per group ([rows][k/g] U8, values 0..15)</li>
 * </ul>
 * value = (code − zero) · scale, with zero = 0 for the 8-bit types and 8 for the symmetric 4-bit types.
 */
public record QuantLayout(DType type, long rows, long k) {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public QuantLayout {
        if (!type.quantized()) throw new IllegalArgumentException(type + " is not a quantized type");
        if (rows <= 0 || k <= 0) throw new IllegalArgumentException("a quantized weight needs rows and columns, got " + rows + "x" + k);
        if (type.group > 0 && k % type.group != 0) {
            throw new IllegalArgumentException(type.formatName() + " needs K (" + k + ") to be a multiple of " + type.group);
        }
    }

    /** The layout of a weight of {@code shape}: rows = shape[0], K = the product of the other dimensions. */
    public static QuantLayout of(DType type, int[] shape) {
        if (shape.length < 2) throw new IllegalArgumentException(type.formatName() + " needs a weight of 2 or more dimensions, got " + shape.length);
        long k = 1;
        for (int d = 1; d < shape.length; d++) {
            if (shape[d] < 0 || (shape[d] > 0 && k > Long.MAX_VALUE / 8 / shape[d])) {
                throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " is too large");
            }
            k *= shape[d];
        }
        return new QuantLayout(type, shape[0], k);
    }

    /** Elements sharing one scale: the group, or the whole row for per-channel types. */
    public int groupLength() {
        return type.group > 0 ? type.group : (int) k;
    }

    public long groupsPerRow() {
        return k / groupLength();
    }

    public long groups() {
        return rows * groupsPerRow();
    }

    public long codeBytesPerRow() {
        return type.bits == 8 ? k : k / 2;
    }

    public long codeBytes() {
        return rows * codeBytesPerRow();
    }

    /** 4 (f32) for per-channel scales, 2 (f16) for group scales. */
    public int scaleBytes() {
        return type.group == 0 ? 4 : 2;
    }

    public long scalesOffset() {
        return codeBytes();
    }

    public long zerosOffset() {
        return scalesOffset() + groups() * scaleBytes();
    }

    public long zeroBytes() {
        return type.zeroPoint ? groups() : 0;
    }

    public long totalBytes() {
        return zerosOffset() + zeroBytes();
    }

    /** The zero point used when the type stores none: the middle code of a symmetric 4-bit type, else 0. */
    public int implicitZero() {
        return type.bits == 4 ? 8 : 0;
    }

    public float scale(MemorySegment data, long group) {
        return type.group == 0 ? data.get(F32, scalesOffset() + group * 4)
                : Float.float16ToFloat(data.get(I16, scalesOffset() + group * 2));
    }

    public int zero(MemorySegment data, long group) {
        return type.zeroPoint ? data.get(ValueLayout.JAVA_BYTE, zerosOffset() + group) & 0xFF : implicitZero();
    }
}
