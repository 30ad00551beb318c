package dev.edgediffuse.compress;

import dev.edgediffuse.kernels.Matmul;

/**
 * A layer's output error from a weight change over its calibration inputs, without running them again:
 * mean over input rows of ‖ΔW·x‖² = Σ_n ΔW_n·H·ΔW_nᵀ with H = XᵀX / rows (block-diagonal as calibrated). The
 * products run on the float GEMM (an SD1.5 layer's would take minutes in scalar double); sums are in double.
 */
final class LayerError {
    private LayerError() {}

    /** The mean output error of using {@code changed} for {@code original} (both [N][K] floats). */
    static double of(float[] original, float[] changed, Calibration.Layer layer) {
        int k = layer.k, n = original.length / k;
        double total = 0;
        for (int b = 0; b < layer.blocks(); b++) {
            int c0 = layer.blockStart(b), len = layer.blockLength(b);
            double[] hd = layer.hessianBlock(b);
            float[] h = new float[hd.length];
            for (int i = 0; i < h.length; i++) h[i] = (float) hd[i];
            float[] d = new float[n * len];
            for (int r = 0; r < n; r++) for (int j = 0; j < len; j++) d[r * len + j] = original[r * k + c0 + j] - changed[r * k + c0 + j];
            float[] dh = Matmul.nn(d, n, len, h, len);
            for (int i = 0; i < d.length; i++) total += (double) d[i] * dh[i];
        }
        return total;
    }
}
