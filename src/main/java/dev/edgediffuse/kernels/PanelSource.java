package dev.edgediffuse.kernels;

/**
 * The right-hand matrix B[K][N] of a GEMM, delivered as packed panels of {@link Gemm#NR} columns:
 * panel p holds B[k][p*NR + j] at k*NR + j, with columns past N set to zero.
 */
public interface PanelSource {
    int rows();

    int cols();

    void pack(int panel, float[] dst, int dstOff);

    default int panels() {
        return (cols() + Gemm.NR - 1) / Gemm.NR;
    }
}
