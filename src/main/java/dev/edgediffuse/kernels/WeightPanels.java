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
        float[] rows16 = row.get();
        if (rows16 == null || rows16.length < Gemm.NR * kk) row.set(rows16 = new float[Gemm.NR * kk]);
        int n0 = panel * Gemm.NR, cols = Math.min(Gemm.NR, n - n0);
        // convert the panel's rows sequentially, then write the panel in order: both passes stream through memory
        for (int j = 0; j < cols; j++) w.copyTo((long) (n0 + j) * kk, rows16, j * kk, kk);
        if (cols < Gemm.NR) java.util.Arrays.fill(rows16, cols * kk, Gemm.NR * kk, 0f);
        for (int k = 0; k < kk; k++) {
            // packed order (tap, c) reads stored order (c, tap)
            int src = taps == 1 ? k : (k % c) * taps + k / c;
            int d = dstOff + k * Gemm.NR;
            for (int j = 0; j < Gemm.NR; j++) dst[d + j] = rows16[j * kk + src];
        }
    }
}
