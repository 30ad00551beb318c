package dev.edgediffuse.train;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * Fixed-size batches drawn without replacement, epoch after epoch, each epoch in its own order derived from
 * (seed, epoch): the sample taken at any step is a pure function of the seed and the step.
 */
public final class Batches {
    private final int size, batch;
    private final long seed;
    private int epoch = -1;
    private int[] order;

    public Batches(int size, int batch, long seed) {
        if (size < batch) throw new IllegalArgumentException("dataset of " + size + " is smaller than a batch of " + batch);
        this.size = size;
        this.batch = batch;
        this.seed = seed;
    }

    /** Dataset indices of the batch used at {@code step}. */
    public int[] indices(long step) {
        int[] out = new int[batch];
        for (int j = 0; j < batch; j++) {
            long i = step * batch + j;
            int e = (int) (i / size);
            if (e != epoch) {
                order = new Rng(seed ^ (0xD1B54A32D192ED03L * (e + 1))).permutation(size);
                epoch = e;
            }
            out[j] = order[(int) (i % size)];
        }
        return out;
    }

    /** Images as a [n][32][32][3] map in [-1, 1], grey replicated over RGB (the VAE is an RGB autoencoder). */
    public static FeatureMap images(FashionMnist data, int[] indices) {
        int px = FashionMnist.SIZE * FashionMnist.SIZE;
        float[] x = new float[indices.length * px * 3];
        for (int j = 0; j < indices.length; j++) {
            for (int p = 0; p < px; p++) {
                float v = (data.pixels()[indices[j] * px + p] & 0xFF) / 127.5f - 1f;
                int o = (j * px + p) * 3;
                x[o] = v;
                x[o + 1] = v;
                x[o + 2] = v;
            }
        }
        return new FeatureMap(x, indices.length, FashionMnist.SIZE, FashionMnist.SIZE, 3);
    }
}
