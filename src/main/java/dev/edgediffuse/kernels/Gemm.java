package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Residency;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * C[M][N] = A[M][K] · B[K][N] (+ bias[N]), with B packed in {@link #NR}-column panels and a register-blocked
 * 6×16 micro-kernel (12 vector accumulators). Rows of A may be gathered from several "taps" — contiguous runs
 * at arbitrary offsets — which is how convolutions run as implicit GEMMs without an im2col buffer.
 */
public final class Gemm {
    public static final int NR = 16;
    static final int MR = 6;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    /** Rows of C per parallel task: a multiple of MR near 64. */
    static final int ROWS_PER_TASK = 11 * MR;
    private static final int PANELS_PER_TASK = 8;
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
     * The micro-kernel: for up to 6 rows, C[row][n0..n0+16) = bias + Σ_t Σ_k a[offs[t*6+row] + k] · B[t*seg + k][·].
     * offs holds MR offsets per tap, starting at offsBase; rows beyond {@code rows} repeat a valid offset and are not stored.
     * 12 accumulators, 2 B vectors and a broadcast fill 15 of AVX2's 16 registers: 12 FMAs per 8 loads.
     */
    static void kernel(float[] a, int[] offs, int offsBase, int taps, int seg, float[] b, int bOff, float[] bias,
                       float[] c, int cRow0, int ldc, int rows, int n0, int n) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int t = 0; t < taps; t++) {
            int o = offsBase + t * MR;
            int a0 = offs[o], a1 = offs[o + 1], a2 = offs[o + 2], a3 = offs[o + 3], a4 = offs[o + 4], a5 = offs[o + 5];
            int bb = bOff + t * seg * NR;
            for (int kk = 0; kk < seg; kk++) {
                FloatVector b0 = FloatVector.fromArray(S, b, bb);
                FloatVector b1 = FloatVector.fromArray(S, b, bb + 8);
                bb += NR;
                FloatVector v = FloatVector.broadcast(S, a[a0 + kk]);
                c00 = v.fma(b0, c00);
                c01 = v.fma(b1, c01);
                v = FloatVector.broadcast(S, a[a1 + kk]);
                c10 = v.fma(b0, c10);
                c11 = v.fma(b1, c11);
                v = FloatVector.broadcast(S, a[a2 + kk]);
                c20 = v.fma(b0, c20);
                c21 = v.fma(b1, c21);
                v = FloatVector.broadcast(S, a[a3 + kk]);
                c30 = v.fma(b0, c30);
                c31 = v.fma(b1, c31);
                v = FloatVector.broadcast(S, a[a4 + kk]);
                c40 = v.fma(b0, c40);
                c41 = v.fma(b1, c41);
                v = FloatVector.broadcast(S, a[a5 + kk]);
                c50 = v.fma(b0, c50);
                c51 = v.fma(b1, c51);
            }
        }
        // Stores stay small straight-line code: a kernel that grew past C2's inlining budget once compiled with
        // its vector ops left as calls (boxed, ~10x slower) after a mid-run recompilation.
        int valid = Math.min(NR, n - n0), at = cRow0 + n0;
        if (valid == NR && rows == MR) {
            if (bias != null) {
                FloatVector lo = FloatVector.fromArray(S, bias, n0), hi = FloatVector.fromArray(S, bias, n0 + 8);
                c00 = c00.add(lo);
                c01 = c01.add(hi);
                c10 = c10.add(lo);
                c11 = c11.add(hi);
                c20 = c20.add(lo);
                c21 = c21.add(hi);
                c30 = c30.add(lo);
                c31 = c31.add(hi);
                c40 = c40.add(lo);
                c41 = c41.add(hi);
                c50 = c50.add(lo);
                c51 = c51.add(hi);
            }
            c00.intoArray(c, at);
            c01.intoArray(c, at + 8);
            c10.intoArray(c, at + ldc);
            c11.intoArray(c, at + ldc + 8);
            c20.intoArray(c, at + 2 * ldc);
            c21.intoArray(c, at + 2 * ldc + 8);
            c30.intoArray(c, at + 3 * ldc);
            c31.intoArray(c, at + 3 * ldc + 8);
            c40.intoArray(c, at + 4 * ldc);
            c41.intoArray(c, at + 4 * ldc + 8);
            c50.intoArray(c, at + 5 * ldc);
            c51.intoArray(c, at + 5 * ldc + 8);
            return;
        }
        // a last row block of fewer than 6 rows, or the last panel of an N that is not a multiple of 16 (attention
        // heads of 40): through a small tile
        float[] tile = TILE.get();
        c00.intoArray(tile, 0);
        c01.intoArray(tile, 8);
        c10.intoArray(tile, 16);
        c11.intoArray(tile, 24);
        c20.intoArray(tile, 32);
        c21.intoArray(tile, 40);
        c30.intoArray(tile, 48);
        c31.intoArray(tile, 56);
        c40.intoArray(tile, 64);
        c41.intoArray(tile, 72);
        c50.intoArray(tile, 80);
        c51.intoArray(tile, 88);
        storePartial(tile, bias, c, at, ldc, rows, n0, valid);
    }

    /** Kept out of line: a rare path whose own loop traps must not invalidate the compiled kernel. */
    private static void storePartial(float[] tile, float[] bias, float[] c, int at, int ldc, int rows, int n0, int valid) {
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < valid; j++) c[at + r * ldc + j] = tile[r * NR + j] + (bias == null ? 0f : bias[n0 + j]);
        }
    }
}
