package dev.edgediffuse.model.vae;

import dev.edgediffuse.tensor.FeatureMap;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Decodes a latent map as overlapping square tiles and blends the decoded tiles: each tile's weight ramps linearly
 * from ~0 at an edge it shares with a neighbour up to 1 across the overlap, and the output is the weighted mean.
 */
final class LatentTiles {
    private LatentTiles() {}

    /**
     * @param scale  output pixels per latent pixel
     * @param decode maps a latent tile [B,th,tw,C] to an image tile [B,th·scale,tw·scale,outC]
     */
    static FeatureMap decode(FeatureMap z, int tile, int overlap, int scale, UnaryOperator<FeatureMap> decode) {
        if (tile < 1 || overlap < 0 || overlap >= tile) {
            throw new IllegalArgumentException("tile " + tile + " with overlap " + overlap + ": need 0 <= overlap < tile");
        }
        int[] ys = starts(z.height(), tile, overlap), xs = starts(z.width(), tile, overlap);
        int th = Math.min(tile, z.height()), tw = Math.min(tile, z.width());
        int outH = z.height() * scale, outW = z.width() * scale, b = z.batch();
        float[] sum = null, weightSum = new float[outH * outW];
        int channels = 0;
        for (int ty = 0; ty < ys.length; ty++) {
            float[] wy = ramp(ys, ty, th, scale);
            for (int tx = 0; tx < xs.length; tx++) {
                float[] wx = ramp(xs, tx, tw, scale);
                FeatureMap img = decode.apply(crop(z, ys[ty], xs[tx], th, tw));
                if (sum == null) {
                    channels = img.channels();
                    sum = new float[b * outH * outW * channels];
                }
                int ih = img.height(), iw = img.width(), y0 = ys[ty] * scale, x0 = xs[tx] * scale;
                for (int n = 0; n < b; n++) {
                    for (int y = 0; y < ih; y++) {
                        for (int x = 0; x < iw; x++) {
                            float wgt = wy[y] * wx[x];
                            int src = ((n * ih + y) * iw + x) * channels;
                            int dst = ((n * outH + y0 + y) * outW + x0 + x) * channels;
                            for (int c = 0; c < channels; c++) sum[dst + c] += wgt * img.data()[src + c];
                            if (n == 0) weightSum[(y0 + y) * outW + x0 + x] += wgt;
                        }
                    }
                }
            }
        }
        for (int n = 0; n < b; n++) {
            for (int p = 0; p < outH * outW; p++) {
                float inv = 1f / weightSum[p];
                int o = (n * outH * outW + p) * channels;
                for (int c = 0; c < channels; c++) sum[o + c] *= inv;
            }
        }
        return new FeatureMap(sum, b, outH, outW, channels);
    }

    /** Tile origins along one axis: every tile − overlap, the last one flush with the end. */
    static int[] starts(int size, int tile, int overlap) {
        if (size <= tile) return new int[]{0};
        List<Integer> s = new ArrayList<>();
        for (int p = 0; p + tile < size; p += tile - overlap) s.add(p);
        s.add(size - tile);
        return s.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Per-output-pixel weights of tile k along one axis: ramps over its actual overlaps with both neighbours. */
    private static float[] ramp(int[] starts, int k, int len, int scale) {
        int before = k > 0 ? (starts[k - 1] + len - starts[k]) * scale : 0;
        int after = k < starts.length - 1 ? (starts[k] + len - starts[k + 1]) * scale : 0;
        int n = len * scale;
        float[] w = new float[n];
        for (int p = 0; p < n; p++) {
            float up = before > 0 ? (p + 0.5f) / before : 1f;
            float down = after > 0 ? (n - p - 0.5f) / after : 1f;
            w[p] = Math.min(1f, Math.min(up, down));
        }
        return w;
    }

    private static FeatureMap crop(FeatureMap z, int y0, int x0, int h, int w) {
        int c = z.channels();
        float[] out = new float[z.batch() * h * w * c];
        for (int n = 0; n < z.batch(); n++) {
            for (int y = 0; y < h; y++) {
                System.arraycopy(z.data(), ((n * z.height() + y0 + y) * z.width() + x0) * c, out, ((n * h + y) * w) * c, w * c);
            }
        }
        return new FeatureMap(out, z.batch(), h, w, c);
    }
}
