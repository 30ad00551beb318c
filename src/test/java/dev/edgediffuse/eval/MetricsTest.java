package dev.edgediffuse.eval;

import dev.edgediffuse.format.Npy;
import org.junit.jupiter.api.Test;

import static dev.edgediffuse.testing.Goldens.load;
import static org.junit.jupiter.api.Assertions.*;

/** FID, PSNR and SSIM against numpy/torch computations that take different routes (tools/goldens/eval.py). */
class MetricsTest {
    private static float[][] rows(Npy.Array a) {
        int n = a.shape()[0], d = a.shape()[1];
        float[][] out = new float[n][d];
        for (int i = 0; i < n; i++) System.arraycopy(a.data(), i * d, out[i], 0, d);
        return out;
    }

    @Test
    void frechetDistanceMatchesNumpy() {
        float[][] a = rows(load("eval", "fid_a")), b = rows(load("eval", "fid_b"));
        double expected = load("eval", "fid_ab").data()[0];
        double got = FrechetDistance.between(a, b);
        assertEquals(expected, got, 1e-4 * Math.abs(expected), "FID");
        assertEquals(0, FrechetDistance.between(a, a), 1e-6, "a set against itself");
        assertEquals(got, FrechetDistance.between(b, a), 1e-6 * got, "symmetric");
    }

    @Test
    void psnrAndSsimMatchTorch() {
        float[] a = load("eval", "ssim_a").data(), b = load("eval", "ssim_b").data();
        assertEquals(load("eval", "psnr_ab").data()[0], ImageMetrics.psnr(a, b), 1e-4);
        assertEquals(load("eval", "ssim_ab").data()[0], ImageMetrics.ssim(a, b, 24, 20, 3), 1e-5);
        assertEquals(1.0, ImageMetrics.ssim(a, a, 24, 20, 3), 1e-9);
        assertTrue(Double.isInfinite(ImageMetrics.psnr(a, a)));
    }
}
