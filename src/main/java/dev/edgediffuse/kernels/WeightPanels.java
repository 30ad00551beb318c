package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Weight;

/**
 * A linear weight [N][K] or a conv weight [N][C][kh][kw] seen as B[K][N] with K ordered (ky, kx, c), the order in
 * which the channels-last convolution walks its taps. Converted from the stored dtype while packing.
 */
public final class WeightPanels implements PanelSource {
    private final Weight w;
    private final int n, c, taps;
    private final ThreadLocal<float[]> row = new ThreadLocal<>();

    public WeightPanels(Weight w) {
        this.w = w;
        this.n = w.shape()[0];
        int t = 1;
        for (int k = 2; k < w.shape().length; k++) t *= w.shape()[k];
        this.taps = t;
        this.c = w.shape().length >= 2 ? w.shape()[1] : 1;
    }

    public Weight weight() {
        return w;
    }

    @Override
    public int rows() {
        return c * taps;
    }

    @Override
    public int cols() {
        return n;
    }

    @Override
    public void pack(int panel, float[] dst, int dstOff) {
        int kk = rows();
        float[] buf = row.get();
        if (buf == null || buf.length < kk) row.set(buf = new float[kk]);
        int n0 = panel * Gemm.NR;
        for (int j = 0; j < Gemm.NR; j++) {
            int col = n0 + j;
            if (col >= n) {
                for (int k = 0; k < kk; k++) dst[dstOff + k * Gemm.NR + j] = 0f;
                continue;
            }
            w.copyTo((long) col * kk, buf, 0, kk);
            if (taps == 1) {
                for (int k = 0; k < kk; k++) dst[dstOff + k * Gemm.NR + j] = buf[k];
            } else {
                // stored order (c, tap) -> packed order (tap, c)
                for (int ch = 0; ch < c; ch++) {
                    for (int t = 0; t < taps; t++) dst[dstOff + (t * c + ch) * Gemm.NR + j] = buf[ch * taps + t];
                }
            }
        }
    }
}
