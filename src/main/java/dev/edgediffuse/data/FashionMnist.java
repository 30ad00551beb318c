package dev.edgediffuse.data;

import dev.edgediffuse.format.ModelFormatException;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Fashion-MNIST from its idx files (as Debian's dataset-fashion-mnist installs them, gzipped or not), with images
 * zero-padded from 28×28 to 32×32 so they halve cleanly through a UNet.
 */
public record FashionMnist(byte[] pixels, int[] labels, int count) {
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    public static final int SIZE = 32;
    public static final String[] CLASSES = {"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
            "sneaker", "bag", "ankle boot"};

    public static FashionMnist train(Path dir) {
        return load(dir, "train");
    }

    public static FashionMnist test(Path dir) {
        return load(dir, "t10k");
    }

    private static FashionMnist load(Path dir, String split) {
        int[] labels = readLabels(file(dir, split + "-labels-idx1-ubyte"));
        byte[] raw = readImages(file(dir, split + "-images-idx3-ubyte"), labels.length);
        byte[] padded = new byte[labels.length * SIZE * SIZE];
        for (int n = 0; n < labels.length; n++) {
            for (int y = 0; y < 28; y++) {
                System.arraycopy(raw, (n * 28 + y) * 28, padded, (n * SIZE + y + 2) * SIZE + 2, 28);
            }
        }
        return new FashionMnist(padded, labels, labels.length);
    }

    /** Image n as floats in [-1, 1], row-major 32×32 (the range the autoencoder works in). */
    public float[] image(int n) {
        float[] out = new float[SIZE * SIZE];
        for (int i = 0; i < out.length; i++) out[i] = (pixels[n * SIZE * SIZE + i] & 255) / 127.5f - 1f;
        return out;
    }

    private static Path file(Path dir, String base) {
        Path plain = dir.resolve(base), gz = dir.resolve(base + ".gz");
        if (Files.isRegularFile(plain)) return plain;
        if (Files.isRegularFile(gz)) return gz;
        throw new ModelFormatException(dir + ": Fashion-MNIST file " + base + "[.gz] not found "
                + "(apt-get install dataset-fashion-mnist)");
    }

    private static DataInputStream open(Path p) throws IOException {
        InputStream in = Files.newInputStream(p);
        if (p.toString().endsWith(".gz")) in = new GZIPInputStream(in, 1 << 16);
        return new DataInputStream(new java.io.BufferedInputStream(in, 1 << 16));
    }

    private static int[] readLabels(Path p) {
        try (DataInputStream in = open(p)) {
            if (in.readInt() != 0x801) throw new ModelFormatException(p + ": not an idx1 label file");
            int n = in.readInt();
            byte[] b = in.readNBytes(n);
            if (b.length != n) throw new ModelFormatException(p + ": truncated (" + b.length + " of " + n + " labels)");
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = b[i];
            return labels;
        } catch (IOException e) {
            throw new ModelFormatException(p + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private static byte[] readImages(Path p, int expected) {
        try (DataInputStream in = open(p)) {
            if (in.readInt() != 0x803) throw new ModelFormatException(p + ": not an idx3 image file");
            int n = in.readInt(), rows = in.readInt(), cols = in.readInt();
            if (n != expected || rows != 28 || cols != 28) {
                throw new ModelFormatException(p + ": expected " + expected + " images of 28x28, header says " + n + " of " + rows + "x" + cols);
            }
            byte[] b = in.readNBytes(n * 28 * 28);
            if (b.length != n * 28 * 28) throw new ModelFormatException(p + ": truncated image data");
            return b;
        } catch (IOException e) {
            throw new ModelFormatException(p + ": cannot read (" + e.getMessage() + ")");
        }
    }
}
