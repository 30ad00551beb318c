package dev.edgediffuse.compress;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Per-tensor asymmetric 8-bit fake quantization: zero exact, 256 levels over the range, half a step of error, clamping. */
class Int8ActivationsTest {
    @Test
    void valuesLandOnTheGridOfTheRange() {
        ActivationRanges.Range r = new ActivationRanges.Range(-0.7f, 3.1f);
        float scale = (3.1f + 0.7f) / 255f;
        float[] x = new float[2001];
        for (int i = 0; i < x.length; i++) x[i] = -1f + 5f * i / (x.length - 1);
        x[0] = 0;
        float[] q = Int8Activations.quantized(x, 0, x.length, r);
        assertEquals(0f, q[0], "zero is exact");
        java.util.Set<Float> levels = new java.util.HashSet<>();
        float[] ends = Int8Activations.quantized(new float[]{-0.7f, 3.1f}, 0, 2, r);
        for (int i = 0; i < x.length; i++) {
            levels.add(q[i]);
            if (x[i] >= -0.7f && x[i] <= 3.1f) assertTrue(Math.abs(q[i] - x[i]) <= scale / 2 * 1.001, "x " + x[i] + " -> " + q[i]);
            else assertEquals(x[i] < 0 ? ends[0] : ends[1], q[i], "outside the range clamps to its end: " + x[i]);
        }
        assertTrue(levels.size() <= 256, levels.size() + " levels");
        assertTrue(levels.size() >= 250, levels.size() + " levels");
    }

    @Test
    void anOffsetSliceIsQuantizedAsItself() {
        ActivationRanges.Range r = new ActivationRanges.Range(-1, 1);
        float[] x = {5, 5, 0.25f, -0.5f, 5};
        float[] q = Int8Activations.quantized(x, 2, 2, r);
        assertEquals(2, q.length);
        assertEquals(0.25f, q[0], 1 / 255f);
        assertEquals(-0.5f, q[1], 1 / 255f);
    }

    /** Against torch.fake_quantize_per_tensor_affine (tools/goldens/int8_activations.py), values in and out of range. */
    @Test
    void matchesTorchsFakeQuantization() {
        float[] x = dev.edgediffuse.testing.Goldens.load("compress", "int8_x").data();
        float[] ranges = dev.edgediffuse.testing.Goldens.load("compress", "int8_ranges").data();
        float[] expected = dev.edgediffuse.testing.Goldens.load("compress", "int8_q").data();
        for (int r = 0; r < ranges.length / 2; r++) {
            float[] q = Int8Activations.quantized(x, 0, x.length, new ActivationRanges.Range(ranges[2 * r], ranges[2 * r + 1]));
            float[] want = java.util.Arrays.copyOfRange(expected, r * x.length, (r + 1) * x.length);
            dev.edgediffuse.testing.Goldens.assertClose("range " + r, want, q, 1e-6);
        }
    }
}
