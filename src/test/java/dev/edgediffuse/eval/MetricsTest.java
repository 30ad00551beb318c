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
        FrechetDistance.Terms terms = FrechetDistance.terms(a, b);
        double means = 0;
        for (int j = 0; j < a[0].length; j++) {
            double ma = 0, mb = 0;
            for (float[] row : a) ma += row[j] / a.length;
            for (float[] row : b) mb += row[j] / b.length;
            means += (ma - mb) * (ma - mb);
        }
        assertTrue(means > 0, "the golden's sets differ in their means");
        assertEquals(means, terms.means(), 1e-6 * means, "the means' term is the squared distance of the means");
        assertEquals(expected, terms.total(), 1e-4 * Math.abs(expected), "the terms sum to the FID");
    }

    @Test
    void psnrAndSsimMatchTorch() {
        float[] a = load("eval", "ssim_a").data(), b = load("eval", "ssim_b").data();
        assertEquals(load("eval", "psnr_ab").data()[0], ImageMetrics.psnr(a, b), 1e-4);
        assertEquals(load("eval", "ssim_ab").data()[0], ImageMetrics.ssim(a, b, 24, 20, 3), 1e-5);
        assertEquals(1.0, ImageMetrics.ssim(a, a, 24, 20, 3), 1e-9);
        assertTrue(Double.isInfinite(ImageMetrics.psnr(a, a)));
    }

    @Test
    void gaussianBlurSpreadsAPointByTheKernelAndKeepsFlatImages() {
        float[] point = new float[9 * 9];
        java.util.Arrays.fill(point, -1f);
        point[4 * 9 + 4] = 1f; // one white pixel (value 2 above the black background)
        var img = new dev.edgediffuse.tensor.FeatureMap(point, 1, 9, 9, 1);
        float[] b = ImageMetrics.gaussianBlur8Bit(img, 1.0).data();
        double z = 0;
        for (int i = -3; i <= 3; i++) z += Math.exp(-i * i / 2.0);
        double centre = -1 + 2 / (z * z), side = -1 + 2 * Math.exp(-0.5) / (z * z);
        assertEquals(centre, b[4 * 9 + 4], 1.0 / 255 + 1e-6);
        assertEquals(side, b[4 * 9 + 5], 1.0 / 255 + 1e-6);
        assertEquals(b[4 * 9 + 3], b[4 * 9 + 5], 0f);
        assertEquals(b[3 * 9 + 4], b[4 * 9 + 5], 0f);
        float[] flat = new float[9 * 9];
        java.util.Arrays.fill(flat, 0.2f);
        for (float v : ImageMetrics.gaussianBlur8Bit(img.with(flat), 0.5).data()) assertEquals(0.2f, v, 1.0 / 255);
        assertThrows(IllegalArgumentException.class, () -> ImageMetrics.gaussianBlur8Bit(new dev.edgediffuse.tensor.FeatureMap(new float[27], 1, 3, 3, 3), 1));
    }
}
