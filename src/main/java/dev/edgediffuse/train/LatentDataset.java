package dev.edgediffuse.train;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.tensor.FeatureMap;

import java.io.PrintStream;

/**
 * The training images encoded once by the trained VAE: per image the posterior mean and standard deviation in
 * UNet space (already multiplied by the scaling factor), so diffusion training samples latents without re-running
 * the encoder each step.
 */
public final class LatentDataset {
    private final float[] mean, std;
    private final int count, height, width, channels;

    private LatentDataset(float[] mean, float[] std, int count, int height, int width, int channels) {
        this.mean = mean;
        this.std = std;
        this.count = count;
        this.height = height;
        this.width = width;
        this.channels = channels;
    }

    /** Images {@code [start, start + count)} of a dataset as a [count][h][w][3] map in [-1, 1]. */
    @FunctionalInterface
    public interface Images {
        FeatureMap get(int start, int count);
    }

    /** Encodes every image; {@code scaling} multiplies the latents (1/σ of the data's latents, as SD's 0.18215). */
    public static LatentDataset encode(AutoencoderKL vae, FashionMnist data, float scaling, PrintStream out) {
        return encode(vae, data.count(), (start, count) -> {
            int[] idx = new int[count];
            for (int j = 0; j < count; j++) idx[j] = start + j;
            return Batches.images(data, idx);
        }, scaling, out);
    }

    /** Encodes images [n][h][w][3] in [-1, 1] held in memory, as above. */
    public static LatentDataset encode(AutoencoderKL vae, FeatureMap images, float scaling, PrintStream out) {
        int per = images.pixels() * images.channels();
        return encode(vae, images.batch(), (start, count) -> new FeatureMap(
                java.util.Arrays.copyOfRange(images.data(), start * per, (start + count) * per), count, images.height(), images.width(),
                images.channels()), scaling, out);
    }

    /** Encodes {@code n} images of any source, 256 at a time (an image folder's, as well as Fashion-MNIST's). */
    public static LatentDataset encode(AutoencoderKL vae, int n, Images images, float scaling, PrintStream out) {
        int chunk = 256;
        float[] mean = null, std = null;
        int h = 0, w = 0, l = vae.latentChannels();
        for (int start = 0; start < n; start += chunk) {
            int count = Math.min(chunk, n - start);
            FeatureMap m = vae.moments(images.get(start, count));
            if (mean == null) {
                h = m.height();
                w = m.width();
                mean = new float[n * h * w * l];
                std = new float[mean.length];
            }
            int cells = m.batch() * m.pixels();
            for (int p = 0; p < cells; p++)
                for (int c = 0; c < l; c++) {
                    int o = (start * h * w + p) * l + c;
                    mean[o] = m.data()[p * 2 * l + c] * scaling;
                    float lv = Math.max(-30f, Math.min(20f, m.data()[p * 2 * l + l + c]));
                    std[o] = (float) Math.exp(0.5 * lv) * scaling;
                }
            if (out != null && (start / chunk) % 40 == 0) out.printf("encoding latents %d/%d%n", start + count, n);
        }
        return new LatentDataset(mean, std, n, h, w, l);
    }

    /** The same posteriors mapped from the encoder's space into the UNet's. */
    public LatentDataset toUnet(LatentScaling scaling) {
        if (scaling.channels() != channels) throw new IllegalArgumentException("scaling has " + scaling.channels() + " channels, latents " + channels);
        float[] m = mean.clone(), s = std.clone();
        scaling.toUnet(m);
        for (int i = 0; i < s.length; i++) s[i] *= scaling.factor()[i % channels];
        return new LatentDataset(m, s, count, height, width, channels);
    }

    /**
     * Per channel, the mean ([0]) and standard deviation ([1]) of posterior samples over (up to) the first {@code n}
     * images, drawn with {@code seed}: diffusers' latents_mean and latents_std.
     */
    public double[][] channelMoments(int n, long seed) {
        int[] first = new int[Math.min(n, count)];
        for (int i = 0; i < first.length; i++) first[i] = i;
        float[] z = sample(first, new Rng(seed));
        double[] sum = new double[channels], sq = new double[channels];
        for (int i = 0; i < z.length; i++) {
            sum[i % channels] += z[i];
            sq[i % channels] += (double) z[i] * z[i];
        }
        double per = (double) z.length / channels;
        double[][] out = new double[2][channels];
        for (int c = 0; c < channels; c++) {
            out[0][c] = sum[c] / per;
            out[1][c] = Math.sqrt(Math.max(0, sq[c] / per - out[0][c] * out[0][c]));
        }
        return out;
    }

    /** The standard deviation of posterior samples over (up to) the first {@code n} images: SD's scaling_factor is 1/this. */
    public static double sampleStd(AutoencoderKL vae, FashionMnist data, int n, long seed) {
        LatentDataset raw = encode(vae, new FashionMnist(data.pixels(), data.labels(), Math.min(n, data.count())), 1f, null);
        int[] all = new int[raw.count];
        for (int i = 0; i < all.length; i++) all[i] = i;
        float[] z = raw.sample(all, new Rng(seed));
        double sum = 0, sq = 0;
        for (float v : z) {
            sum += v;
            sq += (double) v * v;
        }
        double m = sum / z.length;
        return Math.sqrt(sq / z.length - m * m);
    }

    /** Posterior samples μ + σ·ε for the given images, [n][h][w][c] flattened. */
    public float[] sample(int[] indices, Rng rng) {
        int size = height * width * channels;
        float[] out = new float[indices.length * size];
        for (int j = 0; j < indices.length; j++)
            for (int i = 0; i < size; i++) {
                int o = indices[j] * size + i;
                out[j * size + i] = mean[o] + std[o] * rng.nextGaussian();
            }
        return out;
    }

    public int count() {
        return count;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int channels() {
        return channels;
    }

    public int pixels() {
        return height * width;
    }
}
