package dev.edgediffuse.eval;

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
