package dev.edgediffuse.format;

import dev.edgediffuse.tensor.FeatureMap;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;

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

    /** Reads a PNG/JPEG as a [1][H][W][3] map in [-1, 1]; at most 8192 pixels a side. */
    public static FeatureMap read(Path path) {
        return read(path, 8192);
    }

    /**
     * Reads a PNG/JPEG as a [1][H][W][3] map in [-1, 1]. The size in its header is checked against {@code maxSide}
     * before any pixel is decoded: a small file claiming a huge image must not size the allocation.
     */
    public static FeatureMap read(Path path, int maxSide) {
        if (!Files.isRegularFile(path)) throw new ModelFormatException(path + ": init image not found");
        BufferedImage img;
        try (ImageInputStream in = ImageIO.createImageInputStream(path.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) throw new ModelFormatException(path + ": not a readable image (PNG or JPEG expected)");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                int w = reader.getWidth(0), h = reader.getHeight(0);
                if (w < 1 || h < 1 || w > maxSide || h > maxSide) {
                    throw new ModelFormatException(path + ": image is " + w + "x" + h + "; the largest accepted is " + maxSide + "x" + maxSide);
                }
                img = reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ModelFormatException m) throw m;
            // ImageIO's decoders report corrupt data with assorted unchecked exceptions as well as IOException
            throw new ModelFormatException(path + ": cannot read image (" + oneLine(e) + ")");
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

    private static String oneLine(Exception e) {
        String m = e.getMessage();
        return (m == null || m.isBlank() ? e.getClass().getSimpleName() : m).replaceAll("\\s+", " ");
    }
}
