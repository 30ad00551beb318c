package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.QuantLayout;
import dev.edgediffuse.tensor.Weight;

/**
 * A linear weight [N][K] or a conv weight [N][C][kh][kw] seen as B[K][N] with K ordered (ky, kx, c), the order in
 * which the channels-last convolution walks its taps. Converted from the stored dtype while packing, a panel at a
 * time: quantized weights decode whole groups per call (see {@link Weight#copyTo}), never element by element in the
 * GEMM's inner loop.
 */
public final class WeightPanels implements PanelSource {
    private final Weight w;
    private final QuantLayout layout;
    private final int n, c, taps;
    /** Stored columns decoded per step: 16 rows × 256 floats = 16 KB stays in L1; a multiple of every quantization group. */
    private static final int BLOCK = 256;
    private static final ThreadLocal<float[]> BLOCK_BUFFER = new ThreadLocal<>();

    public WeightPanels(Weight w) {
        this.w = w;
        this.layout = w.dtype().quantized() ? w.quantLayout() : null;
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
        float[] block = BLOCK_BUFFER.get();
        if (block == null) BLOCK_BUFFER.set(block = new float[Gemm.NR * BLOCK]);
        int n0 = panel * Gemm.NR, cols = Math.min(Gemm.NR, n - n0);
        // a block of stored columns at a time: decode it for the panel's rows into an L1-sized buffer (whole
        // quantization groups, as BLOCK is a multiple of every group), then write each column as one packed row
        for (int s0 = 0; s0 < kk; s0 += BLOCK) {
            int len = Math.min(BLOCK, kk - s0);
            for (int j = 0; j < cols; j++) w.copyTo((long) (n0 + j) * kk + s0, block, j * BLOCK, len, layout);
            if (cols < Gemm.NR) java.util.Arrays.fill(block, cols * BLOCK, Gemm.NR * BLOCK, 0f);
            for (int s = 0; s < len; s++) {
                // stored order (c, tap) goes to packed order (tap, c)
                int st = s0 + s, k = taps == 1 ? st : (st % taps) * c + st / taps;
                int d = dstOff + k * Gemm.NR;
                for (int j = 0; j < Gemm.NR; j++) dst[d + j] = block[j * BLOCK + s];
            }
        }
    }
}
