package dev.edgediffuse.model;

import dev.edgediffuse.nn.FeatureMap;

/** Channel-wise bookkeeping on channels-last maps that the UNet needs between layers (copies, no arithmetic kernels). */
final class ChannelOps {
    private ChannelOps() {}

    /** torch.cat([first, second], dim=1) in NCHW terms: each pixel's channels are first's, then second's. */
    static FeatureMap concat(FeatureMap first, FeatureMap second) {
        if (first.batch() != second.batch() || first.height() != second.height() || first.width() != second.width()) {
            throw new IllegalArgumentException("cannot concatenate " + first.height() + "x" + first.width()
                    + " and " + second.height() + "x" + second.width() + " maps");
        }
        int c1 = first.channels(), c2 = second.channels(), c = c1 + c2;
        int pixels = first.batch() * first.pixels();
        float[] out = new float[pixels * c];
        for (int p = 0; p < pixels; p++) {
            System.arraycopy(first.data(), p * c1, out, p * c, c1);
            System.arraycopy(second.data(), p * c2, out, p * c + c1, c2);
        }
        return new FeatureMap(out, first.batch(), first.height(), first.width(), c);
    }

    /** Adds perBatch[b][c] to every pixel of batch item b, in place. */
    static void addPerBatch(FeatureMap x, float[] perBatch) {
        int c = x.channels(), hw = x.pixels();
        float[] d = x.data();
        for (int b = 0; b < x.batch(); b++) {
            for (int p = 0; p < hw; p++) {
                int o = (b * hw + p) * c;
                for (int j = 0; j < c; j++) d[o + j] += perBatch[b * c + j];
            }
        }
    }
}
