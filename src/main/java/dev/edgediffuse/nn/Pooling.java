package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.tensor.FeatureMap;

/** Differentiable pooling ops (in the manner of {@link Ops}): they record their backward while a {@link Tape} is active. */
public final class Pooling {
    private Pooling() {}

    /** Mean over each image's pixels: [batch][h][w][c] → [batch][c]. */
    public static float[] globalAverage(FeatureMap x) {
        int b = x.batch(), hw = x.pixels(), c = x.channels();
        float[] d = x.data();
        float[] y = new float[b * c];
        double[] acc = new double[c];
        for (int n = 0; n < b; n++) {
            java.util.Arrays.fill(acc, 0);
            for (int p = 0; p < hw; p++) {
                int o = (n * hw + p) * c;
                for (int j = 0; j < c; j++) acc[j] += d[o + j];
            }
            for (int j = 0; j < c; j++) y[n * c + j] = (float) (acc[j] / hw);
        }
        Tape.record(y, (t, dy) -> {
            float[] dx = new float[d.length];
            float scale = 1f / hw;
            for (int n = 0; n < b; n++)
                for (int p = 0; p < hw; p++) {
                    int o = (n * hw + p) * c;
                    for (int j = 0; j < c; j++) dx[o + j] = dy[n * c + j] * scale;
                }
            t.accumulate(d, dx);
        }, d);
        return y;
    }

    /** Mean over f×f blocks (f divides height and width): [b][h][w][c] → [b][h/f][w/f][c]. */
    public static FeatureMap average(FeatureMap x, int f) {
        int b = x.batch(), h = x.height(), w = x.width(), c = x.channels();
        if (f < 1 || h % f != 0 || w % f != 0) {
            throw new IllegalArgumentException("cannot pool a " + h + "x" + w + " map by " + f);
        }
        if (f == 1) return x;
        int oh = h / f, ow = w / f;
        float[] d = x.data(), y = new float[b * oh * ow * c];
        float scale = 1f / (f * f);
        for (int n = 0; n < b; n++)
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++) {
                    int src = ((n * h + yy) * w + xx) * c, dst = ((n * oh + yy / f) * ow + xx / f) * c;
                    for (int j = 0; j < c; j++) y[dst + j] += d[src + j] * scale;
                }
        Tape.record(y, (t, dy) -> {
            float[] dx = new float[d.length];
            for (int n = 0; n < b; n++)
                for (int yy = 0; yy < h; yy++)
                    for (int xx = 0; xx < w; xx++) {
                        int dst = ((n * h + yy) * w + xx) * c, src = ((n * oh + yy / f) * ow + xx / f) * c;
                        for (int j = 0; j < c; j++) dx[dst + j] = dy[src + j] * scale;
                    }
            t.accumulate(d, dx);
        }, d);
        return new FeatureMap(y, b, oh, ow, c);
    }
}
