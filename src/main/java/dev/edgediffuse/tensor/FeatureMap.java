package dev.edgediffuse.tensor;


/** A batch of images or feature maps in channels-last layout: data[((b·H + y)·W + x)·C + c]. */
public record FeatureMap(float[] data, int batch, int height, int width, int channels) {
    public FeatureMap {
        if ((long) batch * height * width * channels != data.length) {
            throw new IllegalArgumentException("feature map " + batch + "x" + height + "x" + width + "x" + channels
                    + " does not match " + data.length + " values");
        }
    }

    public int pixels() {
        return height * width;
    }

    /**
     * Returns {@code next}, made from this map, and gives this map's array back for reuse ({@link Buffers}): for a
     * map that nothing reads once {@code next} exists.
     */
    public FeatureMap consumedBy(FeatureMap next) {
        if (next.data != data) Buffers.give(data);
        return next;
    }

    public FeatureMap with(float[] newData) {
        return new FeatureMap(newData, batch, height, width, channels);
    }

    /** From PyTorch's NCHW order. */
    public static FeatureMap fromNchw(float[] nchw, int batch, int channels, int height, int width) {
        float[] out = new float[nchw.length];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int p = 0; p < height * width; p++)
                    out[(b * height * width + p) * channels + c] = nchw[(b * channels + c) * height * width + p];
        return new FeatureMap(out, batch, height, width, channels);
    }

    /** To PyTorch's NCHW order. */
    public float[] toNchw() {
        float[] out = new float[data.length];
        int hw = height * width;
        for (int b = 0; b < batch; b++)
            for (int p = 0; p < hw; p++)
                for (int c = 0; c < channels; c++)
                    out[(b * channels + c) * hw + p] = data[(b * hw + p) * channels + c];
        return out;
    }
}
