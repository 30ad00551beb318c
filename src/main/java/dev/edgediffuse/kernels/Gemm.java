package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Residency;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * C[M][N] = A[M][K] · B[K][N] (+ bias[N]), with B packed in {@link #NR}-column panels and a register-blocked
 * micro-kernel of {@link #MR} × {@link #NR} shaped for the vector width ({@link VectorWidth}). Rows of A may be
 * gathered from several "taps" — contiguous runs at arbitrary offsets — which is how convolutions run as implicit
 * GEMMs without an im2col buffer. Every shape sums each element of C as one FMA chain over the taps and k, in order,
 * then adds the bias: the same bits at every width.
 */
public final class Gemm {
    private static final VectorSpecies<Float> S = VectorWidth.FLOAT;
    private static final int LANES = S.length();
    /** Columns of a packed panel of B: four 128-bit vectors, two 256- or 512-bit ones. */
    public static final int NR = LANES == 16 ? 32 : 16;
    /** Rows of the micro-kernel's tile: its accumulators fill most of the registers (see each kernel). */
    static final int MR = LANES == 16 ? 14 : 6;
    /** Rows of C per parallel task: a multiple of MR near 64. */
    static final int ROWS_PER_TASK = (64 + MR - 1) / MR * MR;
    /** Panels per parallel task: 128 columns. */
    private static final int PANELS_PER_TASK = 128 / NR;
    /** Packed floats of B held at once (16 MiB); larger weights are packed and used a group of panels at a time. */
    static final int PACK_FLOATS = 1 << 22;
    private static final ThreadLocal<float[]> PACKED = new ThreadLocal<>();
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[MR * NR]);

    private Gemm() {}

    /** Packs all panels of B into the calling thread's reusable buffer, on this thread (for small B). */
    public static float[] pack(PanelSource b) {
        int k = b.rows(), panels = b.panels();
        float[] buf = PACKED.get();
        if (buf == null || buf.length < panels * k * NR) PACKED.set(buf = new float[panels * k * NR]);
        for (int p = 0; p < panels; p++) b.pack(p, buf, p * k * NR);
        return buf;
    }

    /** Plain GEMM, A row-major with leading dimension lda; C row-major with ldc; multi-threaded. */
    public static void multiply(float[] a, int aOff, int lda, int m, PanelSource b, float[] bias, float[] c, int cOff, int ldc) {
        int k = b.rows(), n = b.cols();
        Flops.add((long) m * k * n);
        int mTasks = (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        forEachPanelGroup(b, (packed, g0, g1) -> {
            int nTasks = (g1 - g0 + PANELS_PER_TASK - 1) / PANELS_PER_TASK;
            Parallel.forEach(mTasks * nTasks, task -> {
                int mt = task / nTasks, nt = task % nTasks;
                int r0 = mt * ROWS_PER_TASK, r1 = Math.min(m, r0 + ROWS_PER_TASK);
                int p0 = g0 + nt * PANELS_PER_TASK, p1 = Math.min(g1, p0 + PANELS_PER_TASK);
                int[] offs = new int[MR];
                for (int p = p0; p < p1; p++) {
                    rowsOfPanel(a, aOff, lda, r0, r1, packed, (p - g0) * k * NR, k, p, n, bias, c, cOff, ldc, offs);
                }
            });
        });
    }

    /** Receives one packed group of panels [p0, p1); panel p starts at (p − p0)·K·NR in {@code packed}. */
    public interface PanelGroup {
        void run(float[] packed, int p0, int p1);
    }

    /**
     * Packs B a group of panels at a time (in parallel) and hands each group to {@code body}: the packed copy stays
     * within {@link #PACK_FLOATS} however large the weight (SD1.5's largest conv is 118 MB as floats), and a mapped
     * weight is populated before and leaves the resident set after the last group.
     */
    public static void forEachPanelGroup(PanelSource b, PanelGroup body) {
        int k = b.rows(), panels = b.panels();
        int perGroup = Math.max(1, Math.min(panels, PACK_FLOATS / (k * NR)));
        float[] buf = PACKED.get();
        if (buf == null || buf.length < perGroup * k * NR) PACKED.set(buf = new float[perGroup * k * NR]);
        float[] dst = buf;
        if (b instanceof WeightPanels w) Residency.acquire(w.weight().data());
        try {
            for (int g0 = 0; g0 < panels; g0 += perGroup) {
                int first = g0, g1 = Math.min(panels, g0 + perGroup);
                Parallel.forEach(g1 - g0, i -> b.pack(first + i, dst, i * k * NR));
                body.run(dst, g0, g1);
            }
        } finally {
            if (b instanceof WeightPanels w) Residency.release(w.weight().data());
        }
    }

    /** Single-threaded GEMM over already packed B (for callers that parallelize at a coarser grain). */
    public static void rows(float[] a, int aOff, int lda, int r0, int r1, float[] packed, int k, int n, int p0, int p1,
                            float[] bias, float[] c, int cOff, int ldc) {
        int[] offs = new int[MR];
        for (int p = p0; p < p1; p++) rowsOfPanel(a, aOff, lda, r0, r1, packed, p * k * NR, k, p, n, bias, c, cOff, ldc, offs);
    }

    /** Rows [r0, r1) of A against panel p of B, packed at bOff; offs is MR ints of scratch. */
    private static void rowsOfPanel(float[] a, int aOff, int lda, int r0, int r1, float[] packed, int bOff, int k, int p,
                                    int n, float[] bias, float[] c, int cOff, int ldc, int[] offs) {
        for (int r = r0; r < r1; r += MR) {
            int rows = Math.min(MR, r1 - r);
            for (int i = 0; i < MR; i++) offs[i] = aOff + (r + Math.min(i, rows - 1)) * lda;
            kernel(a, offs, 0, 1, k, packed, bOff, bias, c, cOff + r * ldc, ldc, rows, p * NR, n);
        }
    }

    /**
     * The micro-kernel: for up to MR rows, C[row][n0..n0+NR) = bias + Σ_t Σ_k a[offs[t*MR+row] + k] · B[t*seg + k][·].
     * offs holds MR offsets per tap, starting at offsBase; rows beyond {@code rows} repeat a valid offset and are not
     * stored. A last row block of fewer than MR rows, or the last panel of an N that is not a multiple of NR
     * (attention heads of 40), is stored through a small tile.
     */
    static void kernel(float[] a, int[] offs, int offsBase, int taps, int seg, float[] b, int bOff, float[] bias,
                       float[] c, int cRow0, int ldc, int rows, int n0, int n) {
        switch (LANES) {
            case 4 -> kernel6x16Of128(a, offs, offsBase, taps, seg, b, bOff, bias, c, cRow0, ldc, rows, n0, n);
            case 8 -> kernel6x16(a, offs, offsBase, taps, seg, b, bOff, bias, c, cRow0, ldc, rows, n0, n);
            default -> kernel14x32(a, offs, offsBase, taps, seg, b, bOff, bias, c, cRow0, ldc, rows, n0, n);
        }
    }

    /** 128-bit (NEON): 24 accumulators, 4 B vectors and a broadcast fill 29 of NEON's 32 registers: 24 FMAs per 10 loads. */
    private static void kernel6x16Of128(float[] a, int[] offs, int offsBase, int taps, int seg, float[] b, int bOff, float[] bias,
            float[] c, int cRow0, int ldc, int rows, int n0, int n) {
        FloatVector c0a = FloatVector.zero(S), c0b = FloatVector.zero(S), c0c = FloatVector.zero(S), c0d = FloatVector.zero(S);
        FloatVector c1a = FloatVector.zero(S), c1b = FloatVector.zero(S), c1c = FloatVector.zero(S), c1d = FloatVector.zero(S);
        FloatVector c2a = FloatVector.zero(S), c2b = FloatVector.zero(S), c2c = FloatVector.zero(S), c2d = FloatVector.zero(S);
        FloatVector c3a = FloatVector.zero(S), c3b = FloatVector.zero(S), c3c = FloatVector.zero(S), c3d = FloatVector.zero(S);
        FloatVector c4a = FloatVector.zero(S), c4b = FloatVector.zero(S), c4c = FloatVector.zero(S), c4d = FloatVector.zero(S);
        FloatVector c5a = FloatVector.zero(S), c5b = FloatVector.zero(S), c5c = FloatVector.zero(S), c5d = FloatVector.zero(S);
        for (int t = 0; t < taps; t++) {
            int o = offsBase + t * MR;
            int a0 = offs[o], a1 = offs[o + 1], a2 = offs[o + 2], a3 = offs[o + 3], a4 = offs[o + 4], a5 = offs[o + 5];
            int bb = bOff + t * seg * NR;
            for (int kk = 0; kk < seg; kk++) {
                FloatVector b0 = FloatVector.fromArray(S, b, bb);
                FloatVector b1 = FloatVector.fromArray(S, b, bb + LANES);
                FloatVector b2 = FloatVector.fromArray(S, b, bb + 2 * LANES);
                FloatVector b3 = FloatVector.fromArray(S, b, bb + 3 * LANES);
                bb += NR;
                FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
                c0a = v.fma(b0, c0a);
                c0b = v.fma(b1, c0b);
                c0c = v.fma(b2, c0c);
                c0d = v.fma(b3, c0d);
                v = FloatVector.broadcast(S, a[a1 + kk]);
                c1a = v.fma(b0, c1a);
                c1b = v.fma(b1, c1b);
                c1c = v.fma(b2, c1c);
                c1d = v.fma(b3, c1d);
                v = FloatVector.broadcast(S, a[a2 + kk]);
                c2a = v.fma(b0, c2a);
                c2b = v.fma(b1, c2b);
                c2c = v.fma(b2, c2c);
                c2d = v.fma(b3, c2d);
                v = FloatVector.broadcast(S, a[a3 + kk]);
                c3a = v.fma(b0, c3a);
                c3b = v.fma(b1, c3b);
                c3c = v.fma(b2, c3c);
                c3d = v.fma(b3, c3d);
                v = FloatVector.broadcast(S, a[a4 + kk]);
                c4a = v.fma(b0, c4a);
                c4b = v.fma(b1, c4b);
                c4c = v.fma(b2, c4c);
                c4d = v.fma(b3, c4d);
                v = FloatVector.broadcast(S, a[a5 + kk]);
                c5a = v.fma(b0, c5a);
                c5b = v.fma(b1, c5b);
                c5c = v.fma(b2, c5c);
                c5d = v.fma(b3, c5d);
            }
        }
        int valid = Math.min(NR, n - n0), at = cRow0 + n0;
        boolean whole = valid == NR && rows == MR;
        float[] dst = whole ? c : TILE.get();
        int o = whole ? at : 0, ld = whole ? ldc : NR;
        c0a.intoArray(dst, o); c0b.intoArray(dst, o + LANES); c0c.intoArray(dst, o + 2 * LANES); c0d.intoArray(dst, o + 3 * LANES);
        c1a.intoArray(dst, o + ld); c1b.intoArray(dst, o + ld + LANES); c1c.intoArray(dst, o + ld + 2 * LANES); c1d.intoArray(dst, o + ld + 3 * LANES);
        c2a.intoArray(dst, o + 2 * ld); c2b.intoArray(dst, o + 2 * ld + LANES); c2c.intoArray(dst, o + 2 * ld + 2 * LANES); c2d.intoArray(dst, o + 2 * ld + 3 * LANES);
        c3a.intoArray(dst, o + 3 * ld); c3b.intoArray(dst, o + 3 * ld + LANES); c3c.intoArray(dst, o + 3 * ld + 2 * LANES); c3d.intoArray(dst, o + 3 * ld + 3 * LANES);
        c4a.intoArray(dst, o + 4 * ld); c4b.intoArray(dst, o + 4 * ld + LANES); c4c.intoArray(dst, o + 4 * ld + 2 * LANES); c4d.intoArray(dst, o + 4 * ld + 3 * LANES);
        c5a.intoArray(dst, o + 5 * ld); c5b.intoArray(dst, o + 5 * ld + LANES); c5c.intoArray(dst, o + 5 * ld + 2 * LANES); c5d.intoArray(dst, o + 5 * ld + 3 * LANES);
        finish(dst, whole, bias, c, at, ldc, rows, n0, valid);
    }

    /** 256-bit (AVX2): 12 accumulators, 2 B vectors and a broadcast fill 15 of AVX2's 16 registers: 12 FMAs per 8 loads. */
    private static void kernel6x16(float[] a, int[] offs, int offsBase, int taps, int seg, float[] b, int bOff, float[] bias,
            float[] c, int cRow0, int ldc, int rows, int n0, int n) {
        FloatVector c0a = FloatVector.zero(S), c0b = FloatVector.zero(S);
        FloatVector c1a = FloatVector.zero(S), c1b = FloatVector.zero(S);
        FloatVector c2a = FloatVector.zero(S), c2b = FloatVector.zero(S);
        FloatVector c3a = FloatVector.zero(S), c3b = FloatVector.zero(S);
        FloatVector c4a = FloatVector.zero(S), c4b = FloatVector.zero(S);
        FloatVector c5a = FloatVector.zero(S), c5b = FloatVector.zero(S);
        for (int t = 0; t < taps; t++) {
            int o = offsBase + t * MR;
            int a0 = offs[o], a1 = offs[o + 1], a2 = offs[o + 2], a3 = offs[o + 3], a4 = offs[o + 4], a5 = offs[o + 5];
            int bb = bOff + t * seg * NR;
            for (int kk = 0; kk < seg; kk++) {
                FloatVector b0 = FloatVector.fromArray(S, b, bb);
                FloatVector b1 = FloatVector.fromArray(S, b, bb + LANES);
                bb += NR;
                FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
                c0a = v.fma(b0, c0a);
                c0b = v.fma(b1, c0b);
                v = FloatVector.broadcast(S, a[a1 + kk]);
                c1a = v.fma(b0, c1a);
                c1b = v.fma(b1, c1b);
                v = FloatVector.broadcast(S, a[a2 + kk]);
                c2a = v.fma(b0, c2a);
                c2b = v.fma(b1, c2b);
                v = FloatVector.broadcast(S, a[a3 + kk]);
                c3a = v.fma(b0, c3a);
                c3b = v.fma(b1, c3b);
                v = FloatVector.broadcast(S, a[a4 + kk]);
                c4a = v.fma(b0, c4a);
                c4b = v.fma(b1, c4b);
                v = FloatVector.broadcast(S, a[a5 + kk]);
                c5a = v.fma(b0, c5a);
                c5b = v.fma(b1, c5b);
            }
        }
        int valid = Math.min(NR, n - n0), at = cRow0 + n0;
        boolean whole = valid == NR && rows == MR;
        float[] dst = whole ? c : TILE.get();
        int o = whole ? at : 0, ld = whole ? ldc : NR;
        c0a.intoArray(dst, o); c0b.intoArray(dst, o + LANES);
        c1a.intoArray(dst, o + ld); c1b.intoArray(dst, o + ld + LANES);
        c2a.intoArray(dst, o + 2 * ld); c2b.intoArray(dst, o + 2 * ld + LANES);
        c3a.intoArray(dst, o + 3 * ld); c3b.intoArray(dst, o + 3 * ld + LANES);
        c4a.intoArray(dst, o + 4 * ld); c4b.intoArray(dst, o + 4 * ld + LANES);
        c5a.intoArray(dst, o + 5 * ld); c5b.intoArray(dst, o + 5 * ld + LANES);
        finish(dst, whole, bias, c, at, ldc, rows, n0, valid);
    }

    /** 512-bit (AVX-512): 28 accumulators, 2 B vectors and a broadcast fill 31 of its 32 registers: 28 FMAs per 16 loads. */
    private static void kernel14x32(float[] a, int[] offs, int offsBase, int taps, int seg, float[] b, int bOff, float[] bias,
            float[] c, int cRow0, int ldc, int rows, int n0, int n) {
        FloatVector c0a = FloatVector.zero(S), c0b = FloatVector.zero(S);
        FloatVector c1a = FloatVector.zero(S), c1b = FloatVector.zero(S);
        FloatVector c2a = FloatVector.zero(S), c2b = FloatVector.zero(S);
        FloatVector c3a = FloatVector.zero(S), c3b = FloatVector.zero(S);
        FloatVector c4a = FloatVector.zero(S), c4b = FloatVector.zero(S);
        FloatVector c5a = FloatVector.zero(S), c5b = FloatVector.zero(S);
        FloatVector c6a = FloatVector.zero(S), c6b = FloatVector.zero(S);
        FloatVector c7a = FloatVector.zero(S), c7b = FloatVector.zero(S);
        FloatVector c8a = FloatVector.zero(S), c8b = FloatVector.zero(S);
        FloatVector c9a = FloatVector.zero(S), c9b = FloatVector.zero(S);
        FloatVector c10a = FloatVector.zero(S), c10b = FloatVector.zero(S);
        FloatVector c11a = FloatVector.zero(S), c11b = FloatVector.zero(S);
        FloatVector c12a = FloatVector.zero(S), c12b = FloatVector.zero(S);
        FloatVector c13a = FloatVector.zero(S), c13b = FloatVector.zero(S);
        for (int t = 0; t < taps; t++) {
            int o = offsBase + t * MR;
            int a0 = offs[o], a1 = offs[o + 1], a2 = offs[o + 2], a3 = offs[o + 3], a4 = offs[o + 4], a5 = offs[o + 5], a6 = offs[o + 6];
            int a7 = offs[o + 7], a8 = offs[o + 8], a9 = offs[o + 9], a10 = offs[o + 10], a11 = offs[o + 11], a12 = offs[o + 12], a13 = offs[o + 13];
            int bb = bOff + t * seg * NR;
            for (int kk = 0; kk < seg; kk++) {
                FloatVector b0 = FloatVector.fromArray(S, b, bb);
                FloatVector b1 = FloatVector.fromArray(S, b, bb + LANES);
                bb += NR;
                FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
                c0a = v.fma(b0, c0a);
                c0b = v.fma(b1, c0b);
                v = FloatVector.broadcast(S, a[a1 + kk]);
                c1a = v.fma(b0, c1a);
                c1b = v.fma(b1, c1b);
                v = FloatVector.broadcast(S, a[a2 + kk]);
                c2a = v.fma(b0, c2a);
                c2b = v.fma(b1, c2b);
                v = FloatVector.broadcast(S, a[a3 + kk]);
                c3a = v.fma(b0, c3a);
                c3b = v.fma(b1, c3b);
                v = FloatVector.broadcast(S, a[a4 + kk]);
                c4a = v.fma(b0, c4a);
                c4b = v.fma(b1, c4b);
                v = FloatVector.broadcast(S, a[a5 + kk]);
                c5a = v.fma(b0, c5a);
                c5b = v.fma(b1, c5b);
                v = FloatVector.broadcast(S, a[a6 + kk]);
                c6a = v.fma(b0, c6a);
                c6b = v.fma(b1, c6b);
                v = FloatVector.broadcast(S, a[a7 + kk]);
                c7a = v.fma(b0, c7a);
                c7b = v.fma(b1, c7b);
                v = FloatVector.broadcast(S, a[a8 + kk]);
                c8a = v.fma(b0, c8a);
                c8b = v.fma(b1, c8b);
                v = FloatVector.broadcast(S, a[a9 + kk]);
                c9a = v.fma(b0, c9a);
                c9b = v.fma(b1, c9b);
                v = FloatVector.broadcast(S, a[a10 + kk]);
                c10a = v.fma(b0, c10a);
                c10b = v.fma(b1, c10b);
                v = FloatVector.broadcast(S, a[a11 + kk]);
                c11a = v.fma(b0, c11a);
                c11b = v.fma(b1, c11b);
                v = FloatVector.broadcast(S, a[a12 + kk]);
                c12a = v.fma(b0, c12a);
                c12b = v.fma(b1, c12b);
                v = FloatVector.broadcast(S, a[a13 + kk]);
                c13a = v.fma(b0, c13a);
                c13b = v.fma(b1, c13b);
            }
        }
        int valid = Math.min(NR, n - n0), at = cRow0 + n0;
        boolean whole = valid == NR && rows == MR;
        float[] dst = whole ? c : TILE.get();
        int o = whole ? at : 0, ld = whole ? ldc : NR;
        c0a.intoArray(dst, o); c0b.intoArray(dst, o + LANES);
        c1a.intoArray(dst, o + ld); c1b.intoArray(dst, o + ld + LANES);
        c2a.intoArray(dst, o + 2 * ld); c2b.intoArray(dst, o + 2 * ld + LANES);
        c3a.intoArray(dst, o + 3 * ld); c3b.intoArray(dst, o + 3 * ld + LANES);
        c4a.intoArray(dst, o + 4 * ld); c4b.intoArray(dst, o + 4 * ld + LANES);
        c5a.intoArray(dst, o + 5 * ld); c5b.intoArray(dst, o + 5 * ld + LANES);
        c6a.intoArray(dst, o + 6 * ld); c6b.intoArray(dst, o + 6 * ld + LANES);
        c7a.intoArray(dst, o + 7 * ld); c7b.intoArray(dst, o + 7 * ld + LANES);
        c8a.intoArray(dst, o + 8 * ld); c8b.intoArray(dst, o + 8 * ld + LANES);
        c9a.intoArray(dst, o + 9 * ld); c9b.intoArray(dst, o + 9 * ld + LANES);
        c10a.intoArray(dst, o + 10 * ld); c10b.intoArray(dst, o + 10 * ld + LANES);
        c11a.intoArray(dst, o + 11 * ld); c11b.intoArray(dst, o + 11 * ld + LANES);
        c12a.intoArray(dst, o + 12 * ld); c12b.intoArray(dst, o + 12 * ld + LANES);
        c13a.intoArray(dst, o + 13 * ld); c13b.intoArray(dst, o + 13 * ld + LANES);
        finish(dst, whole, bias, c, at, ldc, rows, n0, valid);
    }

    /**
     * Adds the bias to a whole tile the kernel stored in C, or copies a partial one from the tile buffer into C with
     * its bias: out of line, so the kernels stay within C2's node budget and every vector operation in them is
     * inlined (a kernel past it once kept its stores as calls that boxed the accumulators, ~10x slower).
     */
    private static void finish(float[] tile, boolean whole, float[] bias, float[] c, int at, int ldc, int rows, int n0, int valid) {
        if (whole) {
            if (bias == null) return;
            for (int r = 0; r < MR; r++) {
                for (int j = 0; j < NR; j++) c[at + r * ldc + j] += bias[n0 + j];
            }
            return;
        }
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < valid; j++) c[at + r * ldc + j] = tile[r * NR + j] + (bias == null ? 0f : bias[n0 + j]);
        }
    }
}
