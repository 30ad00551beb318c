package dev.edgediffuse.kernels;

/**
 * Backward of {@link Attention#attend}: per (image, head) the probabilities P are recomputed, then
 * dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS·K/√d, dK = dSᵀ·Q/√d, each product on the GEMM
 * kernel (single-threaded inside the per-head task). Written for the short sequences of the models trained here:
 * one head's score block is materialized.
 */
public final class AttentionGrad {
    private AttentionGrad() {}

    /** Returns {dQ, dK, dV} in the layouts of q, k and v. */
    public static float[][] attend(float[] q, float[] k, float[] v, float[] dOut, int batch, int tq, int tk,
                                   int heads, int d, boolean causal) {
        int c = heads * d;
        float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
        float scale = (float) (1.0 / Math.sqrt(d));
        Parallel.forEach(batch * heads, bh -> {
            int b = bh / heads, h = bh % heads;
            int qBase = b * tq * c + h * d, kBase = b * tk * c + h * d;
            float[] qh = slice(q, qBase, tq, c, d), kh = slice(k, kBase, tk, c, d), vh = slice(v, kBase, tk, c, d);
            float[] doh = slice(dOut, qBase, tq, c, d);
            float[] p = Matmul.nt(qh, tq, d, kh, tk);
            for (int i = 0; i < tq; i++) Attention.softmaxRow(p, i * tk, causal ? Math.min(tk, i + 1) : tk, tk, scale); // the forward's P, bit for bit
            float[] dvh = Matmul.tn(p, tq, tk, doh, d);
            float[] ds = Matmul.nt(doh, tq, d, vh, tk);
            for (int i = 0; i < tq; i++) {
                int o = i * tk;
                double rowDot = 0;
                for (int j = 0; j < tk; j++) rowDot += ds[o + j] * p[o + j];
                for (int j = 0; j < tk; j++) ds[o + j] = (float) (p[o + j] * (ds[o + j] - rowDot)) * scale;
            }
            float[] dqh = Matmul.nn(ds, tq, tk, kh, d);
            float[] dkh = Matmul.tn(ds, tq, tk, qh, d);
            unslice(dqh, dq, qBase, tq, c, d);
            unslice(dkh, dk, kBase, tk, c, d);
            unslice(dvh, dv, kBase, tk, c, d);
        });
        return new float[][]{dq, dk, dv};
    }

    private static float[] slice(float[] x, int base, int rows, int stride, int d) {
        float[] out = new float[rows * d];
        for (int r = 0; r < rows; r++) System.arraycopy(x, base + r * stride, out, r * d, d);
        return out;
    }

    private static void unslice(float[] src, float[] dst, int base, int rows, int stride, int d) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, r * d, dst, base + r * stride, d);
    }
}
