package dev.edgediffuse.data;

import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.FeatureMap;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A captioned image folder in the layout the kohya and diffusers trainers read: each PNG or JPEG image with a
 * {@code .txt} of the same name beside it holding its caption. Images are read when asked for, scaled so the shorter
 * side fits the size (bilinear) and center-cropped to a square, as diffusers' Resize + CenterCrop.
 */
public final class ImageFolder {
    private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg");
    private final List<Path> images;
    private final List<String> captions;

    private ImageFolder(List<Path> images, List<String> captions) {
        this.images = images;
        this.captions = captions;
    }

    /** The folder's images in name order with their captions; an image without one is a one-line error. */
    public static ImageFolder open(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": image folder not found");
        List<Path> images = new ArrayList<>();
        try (var s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
                if (Files.isRegularFile(p) && EXTENSIONS.stream().anyMatch(name::endsWith)) images.add(p);
            }
        } catch (IOException e) {
            throw new ModelFormatException(dir + ": cannot list (" + e.getMessage() + ")");
        }
        if (images.isEmpty()) throw new ModelFormatException(dir + ": no .png, .jpg or .jpeg images (a captioned image folder holds image + .txt pairs)");
        List<String> captions = new ArrayList<>();
        int missing = 0;
        Path firstMissing = null;
        for (Path img : images) {
            Path txt = captionFile(img);
            if (!Files.isRegularFile(txt)) {
                if (missing++ == 0) firstMissing = img;
                continue;
            }
            try {
                captions.add(Files.readString(txt, StandardCharsets.UTF_8).strip());
            } catch (IOException e) {
                throw new ModelFormatException(txt + ": cannot read caption (" + e.getMessage() + ")");
            }
        }
        if (missing > 0) {
            throw new ModelFormatException(dir + ": " + missing + " of " + images.size() + " images have no caption file (e.g. "
                    + firstMissing.getFileName() + " has no " + captionFile(firstMissing).getFileName() + ")");
        }
        return new ImageFolder(List.copyOf(images), List.copyOf(captions));
    }

    private static Path captionFile(Path image) {
        String n = image.getFileName().toString();
        return image.resolveSibling(n.substring(0, n.lastIndexOf('.')) + ".txt");
    }

    public int count() {
        return images.size();
    }

    public String caption(int i) {
        return captions.get(i);
    }

    /** Every caption, in image order. */
    public List<String> captions() {
        return captions;
    }

    /** Images {@code [start, start + count)} as a [count][size][size][3] map in [-1, 1]. */
    public FeatureMap images(int start, int count, int size) {
        float[] out = new float[count * size * size * 3];
        for (int k = 0; k < count; k++) read(images.get(start + k), size, out, k * size * size * 3);
        return new FeatureMap(out, count, size, size, 3);
    }

    private static void read(Path file, int size, float[] out, int offset) {
        BufferedImage src;
        try {
            src = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read image (" + e.getMessage() + ")");
        }
        if (src == null) throw new ModelFormatException(file + ": not a readable PNG or JPEG image");
        double scale = (double) size / Math.min(src.getWidth(), src.getHeight());
        int w = Math.max(size, (int) Math.round(src.getWidth() * scale)), h = Math.max(size, (int) Math.round(src.getHeight() * scale));
        BufferedImage dst = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = dst.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(src, -(w - size) / 2, -(h - size) / 2, w, h, null);
        g.dispose();
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                int rgb = dst.getRGB(x, y), o = offset + (y * size + x) * 3;
                out[o] = ((rgb >> 16) & 255) / 127.5f - 1f;
                out[o + 1] = ((rgb >> 8) & 255) / 127.5f - 1f;
                out[o + 2] = (rgb & 255) / 127.5f - 1f;
            }
    }
}
