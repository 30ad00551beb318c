package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Buffers;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multi-head scaled dot-product attention, softmax(QKᵀ/√d)V, computed a block of queries at a time so the full
 * Tq×Tk score matrix never exists; heads are column slices of the [tokens][heads·d] projections.
 */
public final class Attention {
    private static final VectorSpecies<Float> S = VectorWidth.BLOCK_FLOAT;
    /** Queries per block: a whole number of GEMM row tiles near 64. */
    private static final int Q_BLOCK = Gemm.ROWS_PER_TASK;
    private static final ThreadLocal<float[][]> SCRATCH = new ThreadLocal<>();

    private Attention() {}

    /**
     * @param q [batch][tq][heads·d], k and v [batch][tk][heads·d]
     * @return [batch][tq][heads·d]
     */
    public static float[] attend(float[] q, float[] k, float[] v, int batch, int tq, int tk, int heads, int d, boolean causal) {
        int c = heads * d;
        float[] out = Buffers.take(batch * tq * c);
        float scale = (float) (1.0 / Math.sqrt(d));
        Flops.add(2L * batch * heads * tq * tk * d);
        int kPanels = (tk + Gemm.NR - 1) / Gemm.NR, vPanels = (d + Gemm.NR - 1) / Gemm.NR;
        // one task per (image, head): its keys and values are packed once, then every query block reuses them
        Parallel.forEach(batch * heads, bh -> {
            int h = bh % heads, b = bh / heads;
            float[][] s = scratch(d * kPanels * Gemm.NR, tk * vPanels * Gemm.NR, Q_BLOCK * tk);
            float[] kt = s[0], vp = s[1], scores = s[2];
            int kvBase = b * tk * c + h * d;
            PanelSource keys = new StridedPanels(k, kvBase, 1, c, d, tk);
            for (int p = 0; p < kPanels; p++) keys.pack(p, kt, p * d * Gemm.NR);
            PanelSource values = new StridedPanels(v, kvBase, c, 1, tk, d);
            for (int p = 0; p < vPanels; p++) values.pack(p, vp, p * tk * Gemm.NR);
            for (int q0 = 0; q0 < tq; q0 += Q_BLOCK) {
                int nq = Math.min(Q_BLOCK, tq - q0);
                Gemm.rows(q, (b * tq + q0) * c + h * d, c, 0, nq, kt, d, tk, 0, kPanels, null, scores, 0, tk);
                for (int i = 0; i < nq; i++) softmaxRow(scores, i * tk, causal ? Math.min(tk, q0 + i + 1) : tk, tk, scale);
                Gemm.rows(scores, 0, tk, 0, nq, vp, tk, d, 0, vPanels, null, out, (b * tq + q0) * c + h * d, c);
            }
        });
        return out;
    }

    /**
     * Softmax of scale·row over the first {@code valid} entries; the rest (masked) become 0. The sum keeps the 8
     * partial sums of {@link VectorWidth#BLOCK} (in one vector, or two of 4 lanes), so every width gives the same bits.
     */
    static void softmaxRow(float[] x, int off, int valid, int len, float scale) {
        int blocks = VectorWidth.blockEnd(0, valid), step = S.length();
        FloatVector vm = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < blocks; j += step) vm = vm.max(FloatVector.fromArray(S, x, off + j));
        float max = Float.NEGATIVE_INFINITY;
        for (int l = 0; l < step; l++) max = Math.max(max, vm.lane(l));
        for (int j = blocks; j < valid; j++) max = Math.max(max, x[off + j]);
        FloatVector vmax = FloatVector.broadcast(S, max * scale), vs = FloatVector.broadcast(S, scale);
        FloatVector low = FloatVector.zero(S), high = low;
        for (int j = 0; j < blocks; j += step) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, off + j).mul(vs).sub(vmax));
            e.intoArray(x, off + j);
            // one exponential in the loop, whatever the width: two outgrew C2's inlining budget on 128-bit vectors
            if (step == VectorWidth.BLOCK || j % VectorWidth.BLOCK == 0) low = low.add(e);
            else high = high.add(e);
        }
        float sum = VectorMath.sum(low, high);
        for (int j = blocks; j < valid; j++) {
            float e = (float) Math.exp(x[off + j] * scale - max * scale);
            x[off + j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int j = 0; j < blocks; j += step) FloatVector.fromArray(S, x, off + j).mul(inv).intoArray(x, off + j);
        for (int j = blocks; j < valid; j++) x[off + j] *= inv;
        for (int j = valid; j < len; j++) x[off + j] = 0f;
    }

    private static float[][] scratch(int a, int b, int c) {
        float[][] s = SCRATCH.get();
        if (s == null || s[0].length < a || s[1].length < b || s[2].length < c) {
            s = new float[][]{new float[Math.max(a, s == null ? 0 : s[0].length)],
                    new float[Math.max(b, s == null ? 0 : s[1].length)], new float[Math.max(c, s == null ? 0 : s[2].length)]};
            SCRATCH.set(s);
        }
        return s;
    }
}
