package dev.edgediffuse.format;

import dev.edgediffuse.tensor.FeatureMap;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Conversions between decoded images in [-1, 1] (channels-last) and 8-bit RGB. */
public final class Images {
    private Images() {}

    /** diffusers' postprocessing: (x/2 + 0.5) clamped to [0,1], ×255, rounded. */
    public static byte[] toRgb(FeatureMap image, int index) {
        int hw = image.pixels();
        byte[] rgb = new byte[hw * 3];
        float[] d = image.data();
        int base = index * hw * image.channels();
        for (int p = 0; p < hw; p++) {
            for (int c = 0; c < 3; c++) {
                float v = d[base + p * image.channels() + c];
                if (Float.isNaN(v)) throw new IllegalStateException("decoded image contains NaN (numerical overflow in the model)");
                float u = Math.min(1f, Math.max(0f, v / 2f + 0.5f));
                rgb[p * 3 + c] = (byte) Math.round(u * 255f);
            }
        }
        return rgb;
    }

    /** Reads a PNG/JPEG as a [1][H][W][3] map in [-1, 1]. */
    public static FeatureMap read(Path path) {
        if (!Files.isRegularFile(path)) throw new ModelFormatException(path + ": init image not found");
        BufferedImage img;
        try {
            img = ImageIO.read(path.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read image (" + e.getMessage() + ")");
        }
        if (img == null) throw new ModelFormatException(path + ": not a readable image (PNG or JPEG expected)");
        int w = img.getWidth(), h = img.getHeight();
        float[] d = new float[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                int o = (y * w + x) * 3;
                d[o] = ((rgb >> 16) & 255) / 127.5f - 1f;
                d[o + 1] = ((rgb >> 8) & 255) / 127.5f - 1f;
                d[o + 2] = (rgb & 255) / 127.5f - 1f;
            }
        }
        return new FeatureMap(d, 1, h, w, 3);
    }
}
