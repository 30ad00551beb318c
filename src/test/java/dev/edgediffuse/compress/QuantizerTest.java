package dev.edgediffuse.compress;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The quantization math per format: error bounds, the documented byte layout, decode paths, clipping. */
class QuantizerTest {
    static final List<DType> FORMATS = List.of(DType.Q8, DType.Q8_32, DType.Q4_32, DType.Q4_64, DType.Q4_32Z, DType.Q4_64Z);
    static final int ROWS = 21, K = 192;

    /** Gaussian rows with outliers, plus rows that stress the edges: all zero, constant, all positive, tiny values. */
    static float[] values(long seed) {
        Random r = new Random(seed);
        float[] v = new float[ROWS * K];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.05);
        for (int i = 0; i < 40; i++) v[r.nextInt(v.length)] *= 12; // outliers
        java.util.Arrays.fill(v, 0, K, 0f);
        java.util.Arrays.fill(v, K, 2 * K, 0.3f);
        for (int i = 2 * K; i < 3 * K; i++) v[i] = 0.5f + r.nextFloat();
        for (int i = 3 * K; i < 4 * K; i++) v[i] = (float) (r.nextGaussian() * 1e-7);
        return v;
    }

    static Weight quantized(float[] v, DType t, Quantizer.Clip clip) {
        return new Weight("w", t, new int[]{ROWS, K}, MemorySegment.ofArray(Quantizer.quantize(v, new int[]{ROWS, K}, t, clip)));
    }

    @Test
    void everyElementIsWithinHalfAStepOfItsStoredScale() {
        float[] v = values(1);
        for (DType t : FORMATS) {
            Weight w = quantized(v, t, Quantizer.Clip.ABSMAX);
            QuantLayout l = w.quantLayout();
            float[] d = w.toFloats();
            for (int i = 0; i < v.length; i++) {
                float s = l.scale(w.data(), i / l.groupLength());
                double err = Math.abs(d[i] - v[i]);
                assertTrue(err <= s / 2 * (1 + 1e-5) + 1e-30, t + " element " + i + ": |" + d[i] + " - " + v[i] + "| = " + err + " > scale/2 = " + s / 2);
            }
            assertEquals(0f, d[0], t + ": an all-zero group decodes to exact zeros");
            // the scale is as fine as the format allows: within one f16 step of range / steps
            for (long g = 0; g < l.groups(); g++) {
                float lo = 0, hi = 0;
                for (int k = 0; k < l.groupLength(); k++) {
                    lo = Math.min(lo, v[(int) (g * l.groupLength() + k)]);
                    hi = Math.max(hi, v[(int) (g * l.groupLength() + k)]);
                }
                double ideal = t.zeroPoint ? (hi - lo) / 15.0 : Math.max(-lo, hi) / (t.bits == 8 ? 127.0 : 7.0);
                float s = l.scale(w.data(), g);
                assertTrue(s >= ideal * (1 - 1e-6) && s <= ideal * (1 + 2e-3) + 1.2e-7, t + " group " + g + ": scale " + s + " vs ideal " + ideal);
            }
        }
    }

    /** Decodes the stored bytes by the layout as documented, independently of the runtime's decoder. */
    static float referenceDecode(DType t, byte[] bytes, int i) {
        ByteOrderedReader r = new ByteOrderedReader(bytes);
        int g = t.group == 0 ? K : t.group, group = i / g, j = i % g;
        long codeBytes = t.bits == 8 ? (long) ROWS * K : (long) ROWS * K / 2;
        int groups = ROWS * K / g;
        float scale = t.group == 0 ? r.f32(codeBytes + 4L * group) : Float.float16ToFloat(r.i16(codeBytes + 2L * group));
        long zerosAt = codeBytes + (long) groups * (t.group == 0 ? 4 : 2);
        int code, zero;
        if (t.bits == 8) {
            code = bytes[i];
            zero = 0;
        } else {
            int b = bytes[group * g / 2 + j % (g / 2)] & 0xFF;
            code = j < g / 2 ? b & 15 : b >> 4;
            zero = t.zeroPoint ? bytes[(int) zerosAt + group] & 0xFF : 8;
        }
        return (code - zero) * scale;
    }

    record ByteOrderedReader(byte[] b) {
        float f32(long at) {
            return MemorySegment.ofArray(b).get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), at);
        }

        short i16(long at) {
            return MemorySegment.ofArray(b).get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), at);
        }
    }

    @Test
    void bytesFollowTheDocumentedLayoutAndEveryDecodePathAgrees() {
        float[] v = values(2);
        Random r = new Random(3);
        for (DType t : FORMATS) {
            byte[] bytes = Quantizer.quantize(v, new int[]{ROWS, K}, t, Quantizer.Clip.ABSMAX);
            Weight w = new Weight("w", t, new int[]{ROWS, K}, MemorySegment.ofArray(bytes));
            float[] whole = w.toFloats();
            for (int i = 0; i < v.length; i++) {
                assertEquals(referenceDecode(t, bytes, i), w.get(i), t + " get(" + i + ")");
                assertEquals(w.get(i), whole[i], t + " copyTo vs get at " + i);
            }
            // ranges that start and end inside groups take the element-wise path; they must agree bit for bit
            for (int trial = 0; trial < 200; trial++) {
                int from = r.nextInt(v.length), count = r.nextInt(Math.min(300, v.length - from) + 1);
                float[] part = new float[count + 3];
                w.copyTo(from, part, 3, count);
                for (int k = 0; k < count; k++) assertEquals(whole[from + k], part[3 + k], t + " range " + from + "+" + count);
            }
            if (t.bits == 4 && !t.zeroPoint) {
                for (int i = 0; i < ROWS * K / 2; i++) {
                    assertNotEquals(0, bytes[i] & 15, "symmetric codes stay in -7..7 (nibble 1..15)");
                    assertNotEquals(0, bytes[i] & 0xF0, "symmetric codes stay in -7..7 (nibble 1..15)");
                }
            }
            if (t.bits == 8) for (int i = 0; i < ROWS * K; i++) assertNotEquals(Byte.MIN_VALUE, bytes[i], "int8 codes stay in -127..127");
        }
    }

    @Test
    void storageSizesPerFormat() {
        int[] shape = {320, 320, 3, 3};
        long n = 320L * 2880;
        assertEquals(n + 4 * 320, QuantLayout.of(DType.Q8, shape).totalBytes());
        assertEquals(n + n / 32 * 2, QuantLayout.of(DType.Q8_32, shape).totalBytes()); // 8.5 bits
        assertEquals(n / 2 + n / 32 * 2, QuantLayout.of(DType.Q4_32, shape).totalBytes()); // 4.5 bits
        assertEquals(n / 2 + n / 64 * 2, QuantLayout.of(DType.Q4_64, shape).totalBytes()); // 4.25 bits
        assertEquals(n / 2 + n / 32 * 3, QuantLayout.of(DType.Q4_32Z, shape).totalBytes()); // 4.75 bits
        assertEquals(n / 2 + n / 64 * 3, QuantLayout.of(DType.Q4_64Z, shape).totalBytes()); // 4.375 bits
    }

    static double squaredError(float[] v, Weight w) {
        float[] d = w.toFloats();
        double e = 0;
        for (int i = 0; i < v.length; i++) e += (d[i] - v[i]) * (double) (d[i] - v[i]);
        return e;
    }

    @Test
    void mseClippingNeverLosesToAbsmaxAndWinsOnHeavyTails() {
        float[] v = values(4);
        float[] laplace = new float[ROWS * K];
        Random r = new Random(6);
        for (int i = 0; i < laplace.length; i++) laplace[i] = (float) (-0.05 * Math.log(1 - r.nextDouble()) * (r.nextBoolean() ? 1 : -1));
        for (DType t : FORMATS) {
            double absmax = squaredError(v, quantized(v, t, Quantizer.Clip.ABSMAX));
            double mse = squaredError(v, quantized(v, t, Quantizer.Clip.MSE));
            assertTrue(mse <= absmax, t + ": mse clipping " + mse + " > absmax " + absmax);
            double lAbsmax = squaredError(laplace, quantized(laplace, t, Quantizer.Clip.ABSMAX));
            double lMse = squaredError(laplace, quantized(laplace, t, Quantizer.Clip.MSE));
            System.out.printf("%s: clipped/absmax squared error %.3f (gaussian+outliers), %.3f (laplace)%n", t, mse / absmax, lMse / lAbsmax);
            if (t.bits == 4) assertTrue(lMse < 0.97 * lAbsmax, t + ": Laplace groups should gain from clipping: " + lMse + " vs " + lAbsmax);
        }
    }

    @Test
    void zeroPointHelpsOneSidedData() {
        float[] v = new float[ROWS * K];
        Random r = new Random(5);
        for (int i = 0; i < v.length; i++) v[i] = 0.2f + 0.1f * r.nextFloat();
        double sym = squaredError(v, quantized(v, DType.Q4_32, Quantizer.Clip.ABSMAX));
        double asym = squaredError(v, quantized(v, DType.Q4_32Z, Quantizer.Clip.ABSMAX));
        assertTrue(asym < 0.5 * sym, "a zero point should spend all 16 codes on [0, max]: " + asym + " vs " + sym);
    }

    @Test
    void rejectsWhatItCannotRepresent() {
        IllegalArgumentException k = assertThrows(IllegalArgumentException.class,
                () -> Quantizer.quantize(new float[4 * 48], new int[]{4, 48}, DType.Q4_32, Quantizer.Clip.ABSMAX));
        assertTrue(k.getMessage().contains("multiple of 32"), k.getMessage());
        float[] nan = new float[2 * 32];
        nan[7] = Float.NaN;
        assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(nan, new int[]{2, 32}, DType.Q8_32, Quantizer.Clip.ABSMAX));
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                () -> new Weight("x", DType.Q4_32, new int[]{2, 32}, MemorySegment.ofArray(new byte[35])));
        assertTrue(size.getMessage().contains("x") && size.getMessage().contains("36"), size.getMessage());
    }
}
