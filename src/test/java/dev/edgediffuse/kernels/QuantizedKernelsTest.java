package dev.edgediffuse.kernels;

import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Quantized weights through the packing and the GEMM/conv kernels: the packed panels equal those of the dequantized
 * f32 copy exactly (so the kernel results are bitwise those of the dequantized weights), and the results stay within
 * a stated relative error (‖Δy‖∞ / ‖y‖∞) of the original f32 weights.
 */
class QuantizedKernelsTest {
    /**
     * Relative output error allowed against the f32 weights, per format. Measured on these Gaussian weights and
     * inputs: 8-bit 0.005–0.007, 4-bit 0.08–0.13 (a 4-bit step is 1/7 of a group's absmax).
     */
    static final Map<DType, Double> TOLERANCE = Map.of(DType.Q8, 0.02, DType.Q8_32, 0.02,
            DType.Q4_32, 0.2, DType.Q4_64, 0.2, DType.Q4_32Z, 0.2, DType.Q4_64Z, 0.2);
    static final List<DType> FORMATS = List.of(DType.Q8, DType.Q8_32, DType.Q4_32, DType.Q4_64, DType.Q4_32Z, DType.Q4_64Z);

    static float[] random(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
        return v;
    }

    static Weight dequantized(Weight q) {
        return Weight.ofFloats(q.name() + ".dequantized", q.toFloats(), q.shape());
    }

    static float[] packAll(PanelSource p) {
        float[] out = new float[p.panels() * p.rows() * Gemm.NR];
        for (int panel = 0; panel < p.panels(); panel++) p.pack(panel, out, panel * p.rows() * Gemm.NR);
        return out;
    }

    @Test
    void packedPanelsEqualThoseOfTheDequantizedWeights() {
        Random r = new Random(1);
        // 37 outputs: two full panels and a partial one; conv K = 64·3·3 in (tap, channel) packing order
        for (int[] shape : new int[][]{{37, 128}, {37, 64, 3, 3}, {16, 64, 1, 1}}) {
            int k = shape.length == 2 ? shape[1] : shape[1] * shape[2] * shape[3];
            Weight f32 = Weight.ofFloats("w", random(r, shape[0] * k, 0.05f), shape);
            for (DType t : FORMATS) {
                Weight q = Quantizer.quantize(f32, t, Quantizer.Clip.ABSMAX);
                assertArrayEquals(packAll(new WeightPanels(dequantized(q))), packAll(new WeightPanels(q)),
                        t + " " + java.util.Arrays.toString(shape));
            }
        }
    }

    @Test
    void gemmWithQuantizedWeights() {
        Random r = new Random(2);
        int m = 23, k = 256, n = 45;
        float[] a = random(r, m * k, 1f), bias = random(r, n, 0.1f);
        Weight f32 = Weight.ofFloats("w", random(r, n * k, 1f / 16), n, k);
        float[] reference = new float[m * n];
        Gemm.multiply(a, 0, k, m, new WeightPanels(f32), bias, reference, 0, n);
        for (DType t : FORMATS) {
            Weight q = Quantizer.quantize(f32, t, Quantizer.Clip.ABSMAX);
            float[] yq = new float[m * n], yd = new float[m * n];
            Gemm.multiply(a, 0, k, m, new WeightPanels(q), bias, yq, 0, n);
            Gemm.multiply(a, 0, k, m, new WeightPanels(dequantized(q)), bias, yd, 0, n);
            assertArrayEquals(yd, yq, t + ": GEMM with quantized weights = GEMM with their dequantized values");
            double rel = Goldens.relError(reference, yq);
            System.out.printf("%s: GEMM relative error %.4f%n", t, rel);
            assertTrue(rel <= TOLERANCE.get(t), t + ": GEMM relative error vs f32 weights " + rel + " > " + TOLERANCE.get(t));
        }
    }

    @Test
    void convWithQuantizedWeights() {
        Random r = new Random(3);
        int batch = 2, h = 9, w = 7, cin = 64, cout = 20;
        float[] x = random(r, batch * h * w * cin, 1f), bias = random(r, cout, 0.1f);
        Weight f32 = Weight.ofFloats("w", random(r, cout * cin * 9, 1f / 24), cout, cin, 3, 3);
        int[] pads = {1, 1, 1, 1};
        float[] reference = Conv2d.conv(x, batch, h, w, cin, new WeightPanels(f32), 3, 3, 1, pads, bias);
        for (DType t : FORMATS) {
            Weight q = Quantizer.quantize(f32, t, Quantizer.Clip.ABSMAX);
            float[] yq = Conv2d.conv(x, batch, h, w, cin, new WeightPanels(q), 3, 3, 1, pads, bias);
            float[] yd = Conv2d.conv(x, batch, h, w, cin, new WeightPanels(dequantized(q)), 3, 3, 1, pads, bias);
            assertArrayEquals(yd, yq, t + ": conv with quantized weights = conv with their dequantized values");
            double rel = Goldens.relError(reference, yq);
            System.out.printf("%s: conv relative error %.4f%n", t, rel);
            assertTrue(rel <= TOLERANCE.get(t), t + ": conv relative error vs f32 weights " + rel + " > " + TOLERANCE.get(t));
        }
    }
}
