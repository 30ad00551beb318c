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
import java.util.stream.Stream;

/**
 * A folder of training images with their captions, as kohya's and most LoRA trainers read it: every .png/.jpg/.jpeg
 * beside a .txt of the same name holding its caption. Images are scaled so the shorter side is {@code size} (bicubic)
 * and cut to the centred square, as RGB in [-1, 1]. Sorted by file name, so the order (and a seeded run) does not
 * depend on the file system.
 */
public record ImageFolder(FeatureMap images, List<String> captions, List<String> files) {
    public static ImageFolder read(Path dir, int size) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": image folder not found");
        List<Path> paths;
        try (Stream<Path> s = Files.list(dir)) {
            paths = s.filter(p -> isImage(p.getFileName().toString())).sorted().toList();
        } catch (IOException e) {
            throw new ModelFormatException(dir + ": cannot list (" + e.getMessage() + ")");
        }
        if (paths.isEmpty()) throw new ModelFormatException(dir + ": no .png or .jpg images");
        float[] data = new float[paths.size() * size * size * 3];
        List<String> captions = new ArrayList<>(), names = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++) {
            Path p = paths.get(i);
            captions.add(caption(p));
            names.add(p.getFileName().toString());
            square(read(p), size, data, i * size * size * 3);
        }
        return new ImageFolder(new FeatureMap(data, paths.size(), size, size, 3), List.copyOf(captions), List.copyOf(names));
    }

    public int count() {
        return captions.size();
    }

    private static boolean isImage(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    private static String caption(Path image) {
        String name = image.getFileName().toString();
        Path txt = image.resolveSibling(name.substring(0, name.lastIndexOf('.')) + ".txt");
        if (!Files.isRegularFile(txt)) throw new ModelFormatException(txt + ": caption file missing for " + name);
        try {
            String c = Files.readString(txt, StandardCharsets.UTF_8).strip();
            if (c.isEmpty()) throw new ModelFormatException(txt + ": caption is empty");
            return c;
        } catch (IOException e) {
            throw new ModelFormatException(txt + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private static BufferedImage read(Path p) {
        try {
            BufferedImage img = ImageIO.read(p.toFile());
            if (img == null) throw new ModelFormatException(p + ": not a readable image");
            return img;
        } catch (IOException e) {
            throw new ModelFormatException(p + ": cannot read image (" + e.getMessage() + ")");
        }
    }

    /** The image scaled (shorter side = size) and centre-cropped into dst at offset, channels-last RGB in [-1, 1]. */
    private static void square(BufferedImage img, int size, float[] dst, int offset) {
        int w = img.getWidth(), h = img.getHeight();
        BufferedImage src = img;
        if (Math.min(w, h) != size) {
            double s = size / (double) Math.min(w, h);
            int sw = Math.max(size, (int) Math.round(w * s)), sh = Math.max(size, (int) Math.round(h * s));
            src = new BufferedImage(sw, sh, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = src.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
            g.drawImage(img, 0, 0, sw, sh, null);
            g.dispose();
        }
        int x0 = (src.getWidth() - size) / 2, y0 = (src.getHeight() - size) / 2;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = src.getRGB(x0 + x, y0 + y), o = offset + (y * size + x) * 3;
                dst[o] = ((rgb >> 16) & 255) / 127.5f - 1f;
                dst[o + 1] = ((rgb >> 8) & 255) / 127.5f - 1f;
                dst[o + 2] = (rgb & 255) / 127.5f - 1f;
            }
        }
    }
}
