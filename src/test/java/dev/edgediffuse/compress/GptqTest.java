package dev.edgediffuse.compress;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPTQ against a float64 torch reference (tools/goldens/gptq.py: the same H, damping 1%, the quantizer's rules):
 * the same inverse-Hessian factor, the same codes; and what GPTQ is for: less layer output error than rounding to
 * nearest, and exactly nearest rounding where H is diagonal (no correlations to compensate through).
 */
class GptqTest {
    static final int N = 16, K = 128, ROWS = 300;
    static final int[] SHAPE = {N, K};

    static double[] hessian() {
        float[] h = Goldens.load("compress", "gptq_h").data();
        double[] d = new double[h.length];
        for (int i = 0; i < h.length; i++) d[i] = h[i];
        return d;
    }

    static float[] dequantized(byte[] bytes, DType t) {
        return new Weight("w", t, SHAPE, MemorySegment.ofArray(bytes)).toFloats();
    }

    @Test
    void inverseHessianFactorMatchesTorch() {
        double[] u = Gptq.inverseFactor(new Gptq.HessianBlock(0, K, hessian()), Gptq.DAMP, new boolean[K]);
        float[] expected = Goldens.load("compress", "gptq_u").data();
        float[] actual = new float[u.length];
        for (int i = 0; i < u.length; i++) actual[i] = (float) u[i];
        Goldens.assertRelClose("U", expected, actual, 1e-6);
    }

    @Test
    void codesMatchTheTorchReference() {
        float[] w = Goldens.load("compress", "gptq_w").data();
        record Case(String name, DType type, Quantizer.Clip clip) {}
        for (Case c : List.of(new Case("q4_32", DType.Q4_32, Quantizer.Clip.ABSMAX), new Case("q4_64z_mse", DType.Q4_64Z, Quantizer.Clip.MSE),
                new Case("q8", DType.Q8, Quantizer.Clip.ABSMAX))) {
            byte[] q = Gptq.quantize(w, SHAPE, c.type, c.clip, List.of(new Gptq.HessianBlock(0, K, hessian())), Gptq.DAMP);
            float[] expected = Goldens.load("compress", "gptq_" + c.name).data();
            assertArrayEquals(expected, dequantized(q, c.type), c.name + ": every dequantized weight equal to the reference's");
            assertEquals(0f, dequantized(q, c.type)[17], c.name + ": the dead input channel's weights are zero");
        }
    }

    @Test
    void gptqHasLessOutputErrorThanNearestRounding() {
        float[] w = Goldens.load("compress", "gptq_w").data(), x = Goldens.load("compress", "gptq_x").data();
        for (DType t : List.of(DType.Q4_32, DType.Q4_64Z, DType.Q8)) {
            double nearest = outputError(w, dequantized(Quantizer.quantize(w, SHAPE, t, Quantizer.Clip.ABSMAX), t), x);
            double gptq = outputError(w, dequantized(Gptq.quantize(w, SHAPE, t, Quantizer.Clip.ABSMAX,
                    List.of(new Gptq.HessianBlock(0, K, hessian())), Gptq.DAMP), t), x);
            assertTrue(gptq < 0.8 * nearest, t + ": GPTQ output error " + gptq + " vs nearest " + nearest);
        }
    }

    @Test
    void aDiagonalHessianGivesNearestRounding() {
        float[] w = Goldens.load("compress", "gptq_w").data();
        double[] h = new double[K * K];
        for (int i = 0; i < K; i++) h[i * K + i] = 1 + i % 7;
        for (DType t : List.of(DType.Q4_32, DType.Q4_64Z, DType.Q8_32)) {
            byte[] g = Gptq.quantize(w, SHAPE, t, Quantizer.Clip.MSE, List.of(new Gptq.HessianBlock(0, 64, sub(h, 0, 64)),
                    new Gptq.HessianBlock(64, 64, sub(h, 64, 64))), Gptq.DAMP);
            assertArrayEquals(Quantizer.quantize(w, SHAPE, t, Quantizer.Clip.MSE), g, t.formatName());
        }
    }

    @Test
    void blocksThatSplitAGroupOrMissColumnsAreRefused() {
        float[] w = new float[N * K];
        double[] h = new double[64 * 64];
        assertTrue(assertThrowsMessage(() -> Gptq.quantize(w, SHAPE, DType.Q4_32, Quantizer.Clip.ABSMAX,
                List.of(new Gptq.HessianBlock(0, 64, h)), Gptq.DAMP)).contains("cover 64 columns"));
    }

    static String assertThrowsMessage(org.junit.jupiter.api.function.Executable e) {
        return org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, e).getMessage();
    }

    static double[] sub(double[] h, int start, int len) {
        double[] out = new double[len * len];
        for (int i = 0; i < len; i++) for (int j = 0; j < len; j++) out[i * len + j] = h[(start + i) * K + start + j];
        return out;
    }

    /** ‖(W − Q)·Xᵀ‖² over the inputs X [ROWS][K]. */
    static double outputError(float[] w, float[] q, float[] x) {
        double total = 0;
        for (int r = 0; r < ROWS; r++) {
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int k = 0; k < K; k++) s += (double) (w[n * K + k] - q[n * K + k]) * x[r * K + k];
                total += s * s;
            }
        }
        return total;
    }
}
