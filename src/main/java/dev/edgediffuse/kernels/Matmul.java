package dev.edgediffuse.kernels;

/**
 * Products of plain row-major heap matrices on the GEMM micro-kernel, in the three shapes back-propagation needs:
 * A·B, A·Bᵀ and Aᵀ·B. Results are new arrays.
 */
public final class Matmul {
    private Matmul() {}

    /** A[m][k] · B[k][n]. */
    public static float[] nn(float[] a, int m, int k, float[] b, int n) {
        float[] c = new float[m * n];
        Gemm.multiply(a, 0, k, m, new StridedPanels(b, 0, n, 1, k, n), null, c, 0, n);
        return c;
    }

    /** A[m][k] · B[n][k]ᵀ. */
    public static float[] nt(float[] a, int m, int k, float[] b, int n) {
        float[] c = new float[m * n];
        Gemm.multiply(a, 0, k, m, new StridedPanels(b, 0, 1, k, k, n), null, c, 0, n);
        return c;
    }

    /** Rows of A per task in {@link #ntRowMax}: their block of the product stays in cache. */
    private static final int ROW_MAX_BLOCK = 8 * Gemm.MR;
    private static final ThreadLocal<float[]> ROW_MAX_SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * For each row i of A[m][k], the largest entry of row i of A·B[n][k]ᵀ and the first column holding it, without
     * keeping the m×n product (token merging's most similar destination for every source token).
     */
    public static void ntRowMax(float[] a, int m, int k, float[] b, int n, float[] max, int[] argmax) {
        Flops.add((long) m * k * n);
        StridedPanels panels = new StridedPanels(b, 0, 1, k, k, n);
        float[] packed = Gemm.pack(panels);
        Parallel.forEach((m + ROW_MAX_BLOCK - 1) / ROW_MAX_BLOCK, blk -> {
            int r0 = blk * ROW_MAX_BLOCK, rows = Math.min(ROW_MAX_BLOCK, m - r0);
            float[] s = ROW_MAX_SCRATCH.get();
            if (s.length < ROW_MAX_BLOCK * n) ROW_MAX_SCRATCH.set(s = new float[ROW_MAX_BLOCK * n]);
            Gemm.rows(a, r0 * k, k, 0, rows, packed, k, n, 0, panels.panels(), null, s, 0, n);
            for (int i = 0; i < rows; i++) {
                int best = 0;
                for (int j = 1; j < n; j++) if (s[i * n + j] > s[i * n + best]) best = j;
                max[r0 + i] = s[i * n + best];
                argmax[r0 + i] = best;
            }
        });
    }

    /** Rows of the reduction one GEMM call covers in {@link #tn}: its panels stay in cache. */
    private static final int REDUCTION_CHUNK = 256;
    /** Per thread: one chunk's product and its transposed rows, in {@link #tn}. */
    private static final ThreadLocal<float[][]> TN_SCRATCH = ThreadLocal.withInitial(() -> new float[][]{new float[0], new float[0]});

    /**
     * Fixed lanes of the chunked reduction in {@link #tn}: lane l sums chunks l, l + LANES, ... and the lanes' sums
     * are added in lane order, whatever the thread count, so a training run writes the same bits on one core as on
     * many. Two lanes keep the sums of the 2-thread build that trained the shipped model.
     */
    private static final int LANES = 2;

    /**
     * A[k][m]ᵀ · B[k][n]: the reduction runs over the shared leading dimension (rows of activations, often tens of
     * thousands, as in weight gradients). It is cut into cache-sized chunks summed in {@link #LANES} fixed lanes.
     * With more threads than lanes, each lane's rows of the product are split over further tasks (each packs the
     * chunk's panels of B itself), which leaves every element's sum as it is.
     */
    public static float[] tn(float[] a, int k, int m, float[] b, int n) {
        int chunks = (k + REDUCTION_CHUNK - 1) / REDUCTION_CHUNK;
        Flops.add((long) m * k * n);
        if (chunks == 1) return tnOneChunk(a, k, m, b, n);
        int lanes = Math.min(chunks, LANES);
        int rowBlocks = Math.max(1, Math.min(Parallel.threads() / lanes, (m + Gemm.MR - 1) / Gemm.MR));
        int blockRows = ((m + rowBlocks - 1) / rowBlocks + Gemm.MR - 1) / Gemm.MR * Gemm.MR;
        float[][] partial = new float[lanes][m * n]; // each lane's own: added in lane order after all tasks finish
        Parallel.forEach(lanes * rowBlocks, task -> {
            int lane = task % lanes, i0 = Math.min(m, task / lanes * blockRows), i1 = Math.min(m, i0 + blockRows);
            if (i0 == i1) return;
            float[][] scratch = TN_SCRATCH.get();
            if (scratch[0].length < m * n) scratch[0] = new float[m * n];
            if (scratch[1].length < m * REDUCTION_CHUNK) scratch[1] = new float[m * REDUCTION_CHUNK];
            float[] c = scratch[0], at = scratch[1], acc = partial[lane]; // scratch rewritten for every chunk, so reused
            for (int ch = lane; ch < chunks; ch += lanes) {
                int r0 = ch * REDUCTION_CHUNK, len = Math.min(REDUCTION_CHUNK, k - r0);
                transposeRows(a, m, i0, i1, r0, len, at);
                StridedPanels panels = new StridedPanels(b, r0 * n, n, 1, len, n);
                float[] packed = Gemm.pack(panels);
                Gemm.rows(at, 0, len, i0, i1, packed, len, n, 0, panels.panels(), null, c, 0, n);
                for (int i = i0 * n; i < i1 * n; i++) acc[i] += c[i];
            }
        });
        float[] out = partial[0];
        for (int l = 1; l < lanes; l++) for (int i = 0; i < out.length; i++) out[i] += partial[l][i];
        return out;
    }

    /**
     * {@link #tn} for a reduction of one chunk (weight gradients of layers that see few rows: the time embedding's
     * projections, the lowest resolution), which one task would run while the other threads wait: the product's rows
     * are split over the threads instead. Each element's sum runs over the same k in the same order, and the
     * result is added to zeros as the chunked path's accumulator does, so the bits are the same.
     */
    private static float[] tnOneChunk(float[] a, int k, int m, float[] b, int n) {
        float[] at = new float[m * k], c = new float[m * n];
        transposeRows(a, m, 0, m, 0, k, at);
        StridedPanels panels = new StridedPanels(b, 0, n, 1, k, n);
        float[] packed = Gemm.pack(panels);
        int blocks = (m + Gemm.MR - 1) / Gemm.MR;
        Parallel.forEach(blocks, blk -> Gemm.rows(at, 0, k, blk * Gemm.MR, Math.min(m, (blk + 1) * Gemm.MR), packed, k, n, 0,
                panels.panels(), null, c, 0, n));
        for (int i = 0; i < c.length; i++) c[i] = 0f + c[i]; // -0 becomes +0, as in an accumulator that starts at 0
        return c;
    }

    /**
     * Rows [r0, r0 + len) of a [·][m] matrix into at[m][len], columns [i0, i1) only, 16 rows at a time so reads and
     * writes both stay in cache.
     */
    private static void transposeRows(float[] a, int m, int i0, int i1, int r0, int len, float[] at) {
        for (int rb = 0; rb < len; rb += 16) {
            int re = Math.min(len, rb + 16);
            for (int i = i0; i < i1; i++) {
                int dst = i * len;
                for (int r = rb; r < re; r++) at[dst + r] = a[(r0 + r) * m + i];
            }
        }
    }

    /** [rows][cols] → [cols][rows]. */
    public static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        int block = 32;
        Parallel.forEach((rows + block - 1) / block, rb -> {
            int r0 = rb * block, r1 = Math.min(rows, r0 + block);
            for (int c0 = 0; c0 < cols; c0 += block) {
                int c1 = Math.min(cols, c0 + block);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) t[c * rows + r] = a[r * cols + c];
            }
        });
        return t;
    }

    /** Column sums of a [rows][cols] matrix (the gradient of a broadcast bias). */
    public static float[] columnSums(float[] a, int rows, int cols) {
        double[] acc = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) acc[c] += a[r * cols + c];
        float[] out = new float[cols];
        for (int c = 0; c < cols; c++) out[c] = (float) acc[c];
        return out;
    }
}
