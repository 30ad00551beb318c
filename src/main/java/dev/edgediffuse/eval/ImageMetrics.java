package dev.edgediffuse.eval;

import dev.edgediffuse.tensor.FeatureMap;

/**
 * Fidelity of an image to a reference, both in [0, 1]: PSNR, and SSIM with the usual 11×11 Gaussian window
 * (σ = 1.5, K1 = 0.01, K2 = 0.03), averaged over the windows that fit inside the image and over channels.
 */
public final class ImageMetrics {
    private static final int WINDOW = 11;
    private static final double[] GAUSS = gaussian();

    private ImageMetrics() {}

    /** Peak signal-to-noise ratio in dB (infinite for identical images). */
    public static double psnr(float[] a, float[] b) {
        double mse = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            mse += d * d;
        }
        mse /= a.length;
        return mse == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(1 / mse);
    }

    /** SSIM of two images stored [h][w][channels]. */
    public static double ssim(float[] a, float[] b, int h, int w, int channels) {
        if (h < WINDOW || w < WINDOW) throw new IllegalArgumentException("SSIM needs images of at least 11x11, got " + h + "x" + w);
        double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03, total = 0;
        int windows = 0;
        for (int ch = 0; ch < channels; ch++) {
            for (int y = 0; y + WINDOW <= h; y++) {
                for (int x = 0; x + WINDOW <= w; x++) {
                    double ma = 0, mb = 0, aa = 0, bb = 0, ab = 0;
                    for (int dy = 0; dy < WINDOW; dy++) {
                        for (int dx = 0; dx < WINDOW; dx++) {
                            double g = GAUSS[dy] * GAUSS[dx];
                            int i = ((y + dy) * w + x + dx) * channels + ch;
                            double va = a[i], vb = b[i];
                            ma += g * va;
                            mb += g * vb;
                            aa += g * va * va;
                            bb += g * vb * vb;
                            ab += g * va * vb;
                        }
                    }
                    double va = aa - ma * ma, vb = bb - mb * mb, cov = ab - ma * mb;
                    total += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                    windows++;
                }
            }
        }
        return total / windows;
    }

    /**
     * Separable Gaussian blur of single-channel images in [-1, 1] (taps out to 3σ, edges clamped), rounded to the 8-bit
     * levels a PNG holds, like every image the evaluator judges.
     */
    public static FeatureMap gaussianBlur8Bit(FeatureMap images, double sigma) {
        if (images.channels() != 1) throw new IllegalArgumentException("blur expects grey images, got " + images.channels() + " channels");
        int r = Math.max(1, (int) Math.ceil(3 * sigma)), h = images.height(), w = images.width();
        double[] k = new double[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-i * i / (2 * sigma * sigma));
        for (int i = 0; i < k.length; i++) k[i] /= sum;
        float[] in = images.data(), rows = new float[in.length], out = new float[in.length];
        for (int b = 0; b < images.batch(); b++) {
            int o = b * h * w;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double v = 0;
                    for (int i = -r; i <= r; i++) v += k[i + r] * in[o + y * w + Math.clamp(x + i, 0, w - 1)];
                    rows[o + y * w + x] = (float) v;
                }
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double v = 0;
                    for (int i = -r; i <= r; i++) v += k[i + r] * rows[o + Math.clamp(y + i, 0, h - 1) * w + x];
                    double u = Math.min(1, Math.max(0, v / 2 + 0.5));
                    out[o + y * w + x] = (float) (Math.round(u * 255) / 255.0 * 2 - 1);
                }
        }
        return images.with(out);
    }

    private static double[] gaussian() {
        double[] g = new double[WINDOW];
        double sum = 0;
        for (int i = 0; i < WINDOW; i++) {
            double d = i - WINDOW / 2;
            g[i] = Math.exp(-d * d / (2 * 1.5 * 1.5));
            sum += g[i];
        }
        for (int i = 0; i < WINDOW; i++) g[i] /= sum;
        return g;
    }
}
