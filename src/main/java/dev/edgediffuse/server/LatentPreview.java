package dev.edgediffuse.server;

import dev.edgediffuse.format.Png;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * A cheap look at an image while it is denoised: the first three latent channels as red, green and blue, each
 * stretched to its own range, one pixel per latent (1/8 of the image's side). No VAE call, so it costs microseconds
 * per step; it shows layout and contrast, not the final colours (those depend on the model's decoder).
 */
final class LatentPreview {
    private LatentPreview() {}

    /** PNG bytes of latents laid out channels-last [h][w][c]. */
    static byte[] png(float[] latents, int channels, int height, int width) {
        int pixels = height * width;
        byte[] rgb = new byte[pixels * 3];
        for (int out = 0; out < 3; out++) {
            int c = Math.min(out, channels - 1);
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < pixels; p++) {
                float v = latents[p * channels + c];
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            float scale = hi > lo ? 255f / (hi - lo) : 0f;
            for (int p = 0; p < pixels; p++) rgb[p * 3 + out] = (byte) Math.round((latents[p * channels + c] - lo) * scale);
        }
        try {
            return Png.encode(rgb, width, height, Map.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
