package dev.edgediffuse.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** B[k][n] = data[base + k*strideK + n*strideN]: covers row-major, transposed and per-head slices of activations. */
public record StridedPanels(float[] data, int base, int strideK, int strideN, int rows, int cols) implements PanelSource {
    /** The GEMM's width: NR is a whole number of its vectors. */
    private static final VectorSpecies<Float> S = VectorWidth.FLOAT;

    @Override
    public void pack(int panel, float[] dst, int dstOff) {
        int n0 = panel * Gemm.NR, nn = Math.min(Gemm.NR, cols - n0);
        if (strideN == 1 && nn == Gemm.NR) {
            // whole panels row by row in vectors: System.arraycopy's call cost dominated 16-float copies
            for (int k = 0; k < rows; k++) {
                int s = base + k * strideK + n0, d = dstOff + k * Gemm.NR;
                for (int j = 0; j < Gemm.NR; j += S.length()) FloatVector.fromArray(S, data, s + j).intoArray(dst, d + j);
            }
            return;
        }
        if (strideN == 1) {
            for (int k = 0; k < rows; k++) {
                int d = dstOff + k * Gemm.NR;
                System.arraycopy(data, base + k * strideK + n0, dst, d, nn);
                for (int j = nn; j < Gemm.NR; j++) dst[d + j] = 0f;
            }
            return;
        }
        for (int j = 0; j < Gemm.NR; j++) {
            if (j >= nn) {
                for (int k = 0; k < rows; k++) dst[dstOff + k * Gemm.NR + j] = 0f;
                continue;
            }
            int src = base + (n0 + j) * strideN;
            for (int k = 0; k < rows; k++) dst[dstOff + k * Gemm.NR + j] = data[src + k * strideK];
        }
    }
}
