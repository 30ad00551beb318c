package dev.edgediffuse.tensor;

import dev.edgediffuse.kernels.VectorWidth;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Quantized codes → floats. Runs of whole groups decode eight codes per vector step, in one or two float vectors of
 * the kernels' block width (the panel packer asks for whole rows, so that is the common case); a run that starts or
 * ends inside a 4-bit group decodes those elements one by one. Both paths compute (code − zero) · scale in float, so
 * they agree bit for bit, at every width.
 */
final class Dequantize {
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    private static final VectorSpecies<Float> F = VectorWidth.BLOCK_FLOAT;
    /** Float vectors per 8 codes. */
    private static final int PARTS = 8 / F.length();

    private Dequantize() {}

    static float get(QuantLayout l, MemorySegment data, long index) {
        int g = l.groupLength();
        long group = index / g;
        float s = l.scale(data, group);
        int z = l.zero(data, group);
        if (l.type().bits == 8) return (data.get(ValueLayout.JAVA_BYTE, index) - z) * s;
        int j = (int) (index - group * g), half = g / 2;
        int b = data.get(ValueLayout.JAVA_BYTE, group * half + (j < half ? j : j - half)) & 0xFF;
        return ((j < half ? b & 15 : b >>> 4) - z) * s;
    }

    static void copyTo(QuantLayout l, MemorySegment data, long from, float[] dst, int dstOff, int count) {
        int g = l.groupLength();
        long i = from, end = from + count;
        int d = dstOff;
        while (i < end) {
            long group = i / g;
            int j0 = (int) (i - group * g), n = (int) Math.min(g - j0, end - i);
            float s = l.scale(data, group);
            int z = l.zero(data, group);
            if (l.type().bits == 8) {
                decode8(data, i, n, z, s, dst, d);
            } else if (j0 == 0 && n == g) {
                decode4(data, group * (g / 2), g / 2, z, s, dst, d);
            } else {
                for (int k = 0; k < n; k++) dst[d + k] = get(l, data, i + k);
            }
            i += n;
            d += n;
        }
    }

    /** n signed byte codes starting at byte {@code at}. */
    private static void decode8(MemorySegment data, long at, int n, int z, float s, float[] dst, int d) {
        int k = 0;
        for (; k <= n - 8; k += 8) {
            ByteVector b = ByteVector.fromMemorySegment(B8, data, at + k, ByteOrder.LITTLE_ENDIAN);
            for (int part = 0; part < PARTS; part++) {
                ((FloatVector) b.convertShape(VectorOperators.B2F, F, part)).sub(z).mul(s).intoArray(dst, d + k + part * F.length());
            }
        }
        for (; k < n; k++) dst[d + k] = (data.get(ValueLayout.JAVA_BYTE, at + k) - z) * s;
    }

    /** One 4-bit group of 2·half elements: low nibbles are elements [0, half), high nibbles [half, 2·half). */
    private static void decode4(MemorySegment data, long at, int half, int z, float s, float[] dst, int d) {
        for (int k = 0; k < half; k += 8) {
            ByteVector b = ByteVector.fromMemorySegment(B8, data, at + k, ByteOrder.LITTLE_ENDIAN);
            ByteVector lo = b.and((byte) 15), hi = b.lanewise(VectorOperators.LSHR, 4).and((byte) 15);
            for (int part = 0; part < PARTS; part++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).sub(z).mul(s).intoArray(dst, d + k + part * F.length());
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).sub(z).mul(s).intoArray(dst, d + half + k + part * F.length());
            }
        }
    }
}
