package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Residency;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * C[M][N] = A[M][K] · B[K][N] (+ bias[N]), with B packed in {@link #NR}-column panels and a register-blocked
 * 4×16 micro-kernel (8 vector accumulators). Rows of A may be gathered from several "taps" — contiguous runs
 * at arbitrary offsets — which is how convolutions run as implicit GEMMs without an im2col buffer.
 */
public final class Gemm {
    public static final int NR = 16;
    static final int MR = 4;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final int ROWS_PER_TASK = 64;
    private static final int PANELS_PER_TASK = 8;
    private static final ThreadLocal<float[]> PACKED = new ThreadLocal<>();

    private Gemm() {}

    /** Packs all panels of B into a reusable per-thread buffer (in parallel when called from the main thread). */
    public static float[] pack(PanelSource b, boolean parallel) {
        int k = b.rows(), panels = b.panels();
        int need = panels * k * NR;
        float[] buf = PACKED.get();
        if (buf == null || buf.length < need) PACKED.set(buf = new float[need]);
        float[] dst = buf;
        if (b instanceof WeightPanels w) Residency.acquire(w.weight().data());
        if (parallel) Parallel.forEach(panels, p -> b.pack(p, dst, p * k * NR));
        else for (int p = 0; p < panels; p++) b.pack(p, dst, p * k * NR);
        if (b instanceof WeightPanels w) Residency.release(w.weight().data());
        return dst;
    }

    /** Plain GEMM, A row-major with leading dimension lda; C row-major with ldc; multi-threaded. */
    public static void multiply(float[] a, int aOff, int lda, int m, PanelSource b, float[] bias, float[] c, int cOff, int ldc) {
        float[] packed = pack(b, true);
        int k = b.rows(), n = b.cols();
        Flops.add((long) m * k * n);
        int mTasks = (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        int panels = b.panels(), nTasks = (panels + PANELS_PER_TASK - 1) / PANELS_PER_TASK;
        Parallel.forEach(mTasks * nTasks, task -> {
            int mt = task / nTasks, nt = task % nTasks;
            int r0 = mt * ROWS_PER_TASK, r1 = Math.min(m, r0 + ROWS_PER_TASK);
            int p0 = nt * PANELS_PER_TASK, p1 = Math.min(panels, p0 + PANELS_PER_TASK);
            rows(a, aOff, lda, r0, r1, packed, k, n, p0, p1, bias, c, cOff, ldc);
        });
    }

    /** Single-threaded GEMM over already packed B (for callers that parallelize at a coarser grain). */
    public static void rows(float[] a, int aOff, int lda, int r0, int r1, float[] packed, int k, int n, int p0, int p1,
                            float[] bias, float[] c, int cOff, int ldc) {
        int[] offs = new int[MR];
        for (int p = p0; p < p1; p++) {
            int bOff = p * k * NR;
            for (int r = r0; r < r1; r += MR) {
                int rows = Math.min(MR, r1 - r);
                for (int i = 0; i < MR; i++) offs[i] = aOff + (r + Math.min(i, rows - 1)) * lda;
                kernel(a, offs, 0, 1, k, packed, bOff, bias, c, cOff + r * ldc, ldc, rows, p * NR, n);
            }
        }
    }

    /**
     * The micro-kernel: for up to 4 rows, C[row][n0..n0+16) = bias + Σ_t Σ_k a[offs[t*4+row] + k] · B[t*seg + k][·].
     * offs holds MR offsets per tap, starting at offsBase; rows beyond {@code rows} repeat a valid offset and are not stored.
     */
    static void kernel(float[] a, int[] offs, int offsBase, int taps, int seg, float[] b, int bOff, float[] bias,
                       float[] c, int cRow0, int ldc, int rows, int n0, int n) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        for (int t = 0; t < taps; t++) {
            int o = offsBase + t * MR;
            int a0 = offs[o], a1 = offs[o + 1], a2 = offs[o + 2], a3 = offs[o + 3];
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
            }
        }
        int valid = Math.min(NR, n - n0);
        store(c00, c01, bias, c, cRow0 + n0, n0, valid);
        if (rows > 1) store(c10, c11, bias, c, cRow0 + ldc + n0, n0, valid);
        if (rows > 2) store(c20, c21, bias, c, cRow0 + 2 * ldc + n0, n0, valid);
        if (rows > 3) store(c30, c31, bias, c, cRow0 + 3 * ldc + n0, n0, valid);
    }

    private static void store(FloatVector lo, FloatVector hi, float[] bias, float[] c, int at, int n0, int valid) {
        if (valid == NR) {
            if (bias != null) {
                lo = lo.add(FloatVector.fromArray(S, bias, n0));
                hi = hi.add(FloatVector.fromArray(S, bias, n0 + 8));
            }
            lo.intoArray(c, at);
            hi.intoArray(c, at + 8);
            return;
        }
        for (int j = 0; j < valid; j++) {
            float v = j < 8 ? lo.lane(j) : hi.lane(j - 8);
            c[at + j] = bias == null ? v : v + bias[n0 + j];
        }
    }
}
