package dev.edgediffuse.speedup;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.model.unet.TokenMerge;
import dev.edgediffuse.tensor.Buffers;

import java.util.Arrays;

/**
 * tomesd's bipartite soft matching with 2×2 strides (Bolya and Hoffman 2023) for one transformer block. Each 2×2
 * cell of the h×w token map gives one destination token (its top-left, or a chosen position), every other token is
 * a source; a row beyond a whole cell (odd h or w) holds sources only. Each source's most similar destination by
 * cosine similarity of the block's input is its match, and the r sources with the most similar matches are
 * averaged into their destinations (tomesd's "mean": a destination and its sources count alike). The merged order
 * is tomesd's: the unmerged sources by falling similarity, then the destinations; unmerging copies a destination's
 * output back to its sources. Every image of the batch has its own matching (and may have its own partition).
 * Under a recording tape both are differentiable in their values (the matching itself is a discrete choice, made on
 * values and not differentiated, as in tomesd): merging's gradient spreads each merged token's gradient over the
 * tokens it averages, unmerging's sums the gradients of the tokens a merged token was copied to.
 */
final class BipartiteSoftMatching implements TokenMerge.Merge {
    static final int STRIDE = 2, CELL = STRIDE * STRIDE;

    private final int tokens, kept;
    /** Per image: the merged index each token contributes to and is restored from. */
    private final int[][] target;
    /** Per image: how many tokens each merged index stands for. */
    private final int[][] counts;

    private BipartiteSoftMatching(int tokens, int kept, int[][] target, int[][] counts) {
        this.tokens = tokens;
        this.kept = kept;
        this.target = target;
        this.counts = counts;
    }

    /** Source tokens of an h×w map: all but one per whole 2×2 cell, so at most this many can merge. */
    static int sources(int h, int w) {
        return h * w - (h / STRIDE) * (w / STRIDE);
    }

    /**
     * Plans the merge of {@code r} tokens per image.
     *
     * @param metric       the block input, [batch][h·w][c]: similarity is measured on it
     * @param destinations per image, each cell's destination position (row-major in the cell, 0 = top-left) in
     *                     row-major cell order; null for the top-left everywhere (images may share one array)
     */
    static BipartiteSoftMatching plan(float[] metric, int batch, int h, int w, int c, int r, int[][] destinations) {
        int n = h * w, cells = (h / STRIDE) * (w / STRIDE), src = n - cells;
        if (r < 1 || r > src) throw new IllegalArgumentException("cannot merge " + r + " of " + src + " source tokens");
        int[][] target = new int[batch][], counts = new int[batch][];
        float[] a = Buffers.take(src * c), b = Buffers.take(cells * c), best = new float[src];
        int[] match = new int[src];
        for (int img = 0; img < batch; img++) {
            int[] dst = new int[cells], srcTokens = new int[src];
            partition(h, w, destinations == null ? null : destinations[img], dst, srcTokens);
            int base = img * n * c;
            for (int i = 0; i < src; i++) normalized(metric, base + srcTokens[i] * c, c, a, i * c);
            for (int j = 0; j < cells; j++) normalized(metric, base + dst[j] * c, c, b, j * c);
            Matmul.ntRowMax(a, src, c, b, cells, best, match);
            int[] order = byFallingSimilarity(best);
            int[] t = new int[n], count = new int[n - r];
            for (int i = r; i < src; i++) t[srcTokens[order[i]]] = i - r;
            for (int j = 0; j < cells; j++) t[dst[j]] = src - r + j;
            for (int i = 0; i < r; i++) t[srcTokens[order[i]]] = src - r + match[order[i]];
            for (int tok = 0; tok < n; tok++) count[t[tok]]++;
            target[img] = t;
            counts[img] = count;
        }
        Buffers.give(a);
        Buffers.give(b);
        return new BipartiteSoftMatching(n, n - r, target, counts);
    }

    /** Destination and source tokens (each in raster order) for one image's choice of position per cell. */
    static void partition(int h, int w, int[] choice, int[] dst, int[] src) {
        int cellsX = w / STRIDE, cellsY = h / STRIDE;
        boolean[] isDst = new boolean[h * w];
        for (int cy = 0; cy < cellsY; cy++) {
            for (int cx = 0; cx < cellsX; cx++) {
                int k = choice == null ? 0 : choice[cy * cellsX + cx];
                isDst[(cy * STRIDE + k / STRIDE) * w + cx * STRIDE + k % STRIDE] = true;
            }
        }
        int d = 0, s = 0;
        for (int tok = 0; tok < h * w; tok++) {
            if (isDst[tok]) dst[d++] = tok;
            else src[s++] = tok;
        }
    }

    /** x / |x| (a zero vector stays zero: it matches nothing better than anything else). */
    private static void normalized(float[] x, int off, int c, float[] out, int outOff) {
        double sq = 0;
        for (int k = 0; k < c; k++) sq += (double) x[off + k] * x[off + k];
        float norm = (float) Math.sqrt(sq);
        if (norm == 0) norm = 1;
        for (int k = 0; k < c; k++) out[outOff + k] = x[off + k] / norm;
    }

    /** Indices by falling value, ties in index order. */
    private static int[] byFallingSimilarity(float[] v) {
        long[] keys = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            int bits = Float.floatToIntBits(v[i]);
            long ascending = bits ^ ((bits >> 31) & 0x7fffffff); // orders like the floats
            keys[i] = ((Integer.MAX_VALUE - ascending) - (1L << 31)) << 32 | i;
        }
        Arrays.sort(keys);
        int[] order = new int[v.length];
        for (int i = 0; i < v.length; i++) order[i] = (int) keys[i];
        return order;
    }

    @Override
    public int tokens() {
        return kept;
    }

    @Override
    public float[] merge(float[] x, int c) {
        int batch = target.length;
        if (x.length != batch * tokens * c) throw new IllegalArgumentException("merge of " + x.length + " values, expected " + batch * tokens * c);
        float[] out = Buffers.take(batch * kept * c);
        Arrays.fill(out, 0f);
        for (int img = 0; img < batch; img++) {
            int[] t = target[img], count = counts[img];
            int in = img * tokens * c, o = img * kept * c;
            for (int tok = 0; tok < tokens; tok++) {
                int from = in + tok * c, to = o + t[tok] * c;
                for (int k = 0; k < c; k++) out[to + k] += x[from + k];
            }
            for (int m = 0; m < kept; m++) {
                if (count[m] == 1) continue;
                float div = count[m];
                for (int k = o + m * c, e = k + c; k < e; k++) out[k] /= div;
            }
        }
        Tape.record(out, (tape, dOut) -> tape.accumulateFresh(x, mergeGradient(dOut, c)), x);
        return out;
    }

    /** d(merge)/dx applied to the merged tokens' gradient: every token gets its merged token's gradient / count. */
    private float[] mergeGradient(float[] dOut, int c) {
        int batch = target.length;
        float[] dx = new float[batch * tokens * c];
        for (int img = 0; img < batch; img++) {
            int[] t = target[img], count = counts[img];
            for (int tok = 0; tok < tokens; tok++) {
                int from = (img * kept + t[tok]) * c, to = (img * tokens + tok) * c;
                float inv = 1f / count[t[tok]];
                for (int k = 0; k < c; k++) dx[to + k] = dOut[from + k] * inv;
            }
        }
        return dx;
    }

    @Override
    public float[] unmerge(float[] y, int c) {
        int batch = target.length;
        if (y.length != batch * kept * c) throw new IllegalArgumentException("unmerge of " + y.length + " values, expected " + batch * kept * c);
        float[] out = Buffers.take(batch * tokens * c);
        for (int img = 0; img < batch; img++) {
            int[] t = target[img];
            for (int tok = 0; tok < tokens; tok++) System.arraycopy(y, (img * kept + t[tok]) * c, out, (img * tokens + tok) * c, c);
        }
        Tape.record(out, (tape, dOut) -> tape.accumulateFresh(y, unmergeGradient(dOut, c)), y);
        return out;
    }

    /** d(unmerge)/dy applied to every token's gradient: each merged token sums the gradients of its copies. */
    private float[] unmergeGradient(float[] dOut, int c) {
        int batch = target.length;
        float[] dy = new float[batch * kept * c];
        for (int img = 0; img < batch; img++) {
            int[] t = target[img];
            for (int tok = 0; tok < tokens; tok++) {
                int from = (img * tokens + tok) * c, to = (img * kept + t[tok]) * c;
                for (int k = 0; k < c; k++) dy[to + k] += dOut[from + k];
            }
        }
        return dy;
    }
}
