package dev.edgediffuse.compress;

import dev.edgediffuse.kernels.Parallel;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;

import java.lang.foreign.MemorySegment;

/**
 * GPTQ rounding (Frantar et al. 2022, as AutoGPTQ's {@code fasterquant}): columns of W [N][K] are quantized in order,
 * each column's rounding error, divided by the inverse Hessian's diagonal, is pushed onto the columns not yet
 * quantized through the upper Cholesky factor U of H⁻¹ (H = XᵀX from calibration, damped by a share of its mean
 * diagonal; zero-diagonal columns are dead: their weights are zeroed). A group's scale and zero point are chosen, by
 * the same rule as nearest rounding (absmax or MSE clip), from the group's weights as updated when the group's first
 * column is reached; per-channel formats choose them from the whole row up front. Rows are independent given U, so
 * each row is carried through all its columns at once (the same arithmetic as GPTQ's lazy 128-column batches) and
 * rows run in parallel. With a block-diagonal H (see {@link InputStatistics}) errors stay inside their block.
 */
public final class Gptq {
    /** AutoGPTQ's default damping: 1% of the mean diagonal. */
    public static final double DAMP = 0.01;

    /** A block of H and where its columns start. */
    public record HessianBlock(int start, int length, double[] h) {}

    private Gptq() {}

    /**
     * W [rows][k] (row-major floats, as stored) quantized to {@code type}; returns the storage bytes of its
     * {@link QuantLayout}. {@code blocks} must cover [0, k) in order, each a multiple of the group long (but the last).
     */
    public static byte[] quantize(float[] w, int[] shape, DType type, Quantizer.Clip clip, java.util.List<HessianBlock> blocks, double damp) {
        QuantLayout l = QuantLayout.of(type, shape);
        int rows = (int) l.rows(), k = (int) l.k(), g = l.groupLength();
        int covered = 0;
        for (HessianBlock b : blocks) {
            if (b.start != covered) throw new IllegalArgumentException("Hessian blocks must cover the columns in order");
            if (type.group > 0 && b.start % g != 0) throw new IllegalArgumentException("Hessian block at " + b.start + " splits a group of " + g);
            covered += b.length;
        }
        if (covered != k) throw new IllegalArgumentException("Hessian blocks cover " + covered + " columns, the weight has " + k);
        double[][] factors = new double[blocks.size()][];
        boolean[] dead = new boolean[k];
        for (int b = 0; b < blocks.size(); b++) factors[b] = inverseFactor(blocks.get(b), damp, dead);
        byte[] out = new byte[(int) l.totalBytes()];
        MemorySegment seg = MemorySegment.ofArray(out);
        int tile = 8, tasks = (rows + tile - 1) / tile;
        Parallel.forEach(tasks, t -> {
            int r0 = t * tile, r1 = Math.min(rows, r0 + tile);
            for (int r = r0; r < r1; r++) quantizeRow(l, w, r, clip, blocks, factors, dead, seg);
        });
        return out;
    }

    /** One row: columns in order, each rounded, its error spread over the later columns of its Hessian block. */
    private static void quantizeRow(QuantLayout l, float[] w, int r, Quantizer.Clip clip, java.util.List<HessianBlock> blocks,
                                    double[][] factors, boolean[] dead, MemorySegment out) {
        int k = (int) l.k(), g = l.groupLength();
        DType t = l.type();
        double[] row = new double[k];
        float[] current = new float[k];
        for (int j = 0; j < k; j++) row[j] = dead[j] ? 0 : w[r * k + j];
        int[] codes = new int[k];
        Quantizer.Group[] groups = new Quantizer.Group[k / g];
        if (t.group == 0) {
            for (int j = 0; j < k; j++) current[j] = (float) row[j];
            groups[0] = Quantizer.chooseGroup(l, current, 0, clip);
        }
        for (int b = 0; b < blocks.size(); b++) {
            HessianBlock hb = blocks.get(b);
            double[] u = factors[b];
            int n = hb.length, c0 = hb.start;
            for (int i = 0; i < n; i++) {
                int col = c0 + i;
                if (t.group > 0 && col % g == 0) {
                    for (int j = col; j < col + g; j++) current[j] = (float) row[j];
                    groups[col / g] = Quantizer.chooseGroup(l, current, col, clip);
                }
                Quantizer.Group p = groups[col / g];
                int code = Quantizer.code(t, (float) row[col], p.scale(), p.zero());
                codes[col] = code;
                double err = (row[col] - p.value(code)) / u[i * n + i];
                int base = i * n;
                for (int j = i + 1; j < n; j++) row[c0 + j] -= err * u[base + j];
            }
        }
        long groupsPerRow = k / g;
        for (int grp = 0; grp < groupsPerRow; grp++) Quantizer.writeGroup(l, codes, grp * g, r * groupsPerRow + grp, groups[grp], out);
    }

    /**
     * The upper Cholesky factor U of (H + damp·mean(diag H)·I)⁻¹ for one block, row-major [n][n] (H⁻¹ = UᵀU); dead
     * columns (zero diagonal) get a unit diagonal and are marked.
     */
    static double[] inverseFactor(HessianBlock block, double damp, boolean[] dead) {
        int n = block.length;
        double[] h = block.h.clone();
        if (h.length != n * n) throw new IllegalArgumentException("Hessian block of " + h.length + " values for " + n + " columns");
        double mean = 0;
        for (int i = 0; i < n; i++) {
            if (h[i * n + i] == 0) {
                h[i * n + i] = 1;
                dead[block.start + i] = true;
            }
            mean += h[i * n + i];
        }
        mean /= n;
        for (int i = 0; i < n; i++) h[i * n + i] += damp * mean;
        double[] lower = cholesky(h, n);
        double[] inv = inverseFromCholesky(lower, n);
        // U upper with UᵀU = H⁻¹: the transpose of the lower Cholesky factor of H⁻¹
        double[] l2 = cholesky(inv, n);
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = i; j < n; j++) u[i * n + j] = l2[j * n + i];
        return u;
    }

    /** Lower L with L·Lᵀ = a (row-major n×n); fails when a is not positive definite. */
    static double[] cholesky(double[] a, int n) {
        double[] l = new double[n * n];
        for (int j = 0; j < n; j++) {
            double d = a[j * n + j];
            for (int p = 0; p < j; p++) d -= l[j * n + p] * l[j * n + p];
            if (!(d > 0)) throw new IllegalArgumentException("Hessian is not positive definite at column " + j + " (raise the damping)");
            double ljj = Math.sqrt(d);
            l[j * n + j] = ljj;
            final int jj = j;
            Parallel.forEach(Math.max(1, (n - j - 1 + 63) / 64), t -> {
                int i0 = jj + 1 + t * 64, i1 = Math.min(n, i0 + 64);
                for (int i = i0; i < i1; i++) {
                    double s = a[i * n + jj];
                    for (int p = 0; p < jj; p++) s -= l[i * n + p] * l[jj * n + p];
                    l[i * n + jj] = s / ljj;
                }
            });
        }
        return l;
    }

    /** (L·Lᵀ)⁻¹ from lower L: L⁻¹ by forward substitution, then L⁻ᵀ·L⁻¹. */
    static double[] inverseFromCholesky(double[] l, int n) {
        double[] li = new double[n * n];
        Parallel.forEach(n, c -> { // column c of L⁻¹: solve L·x = e_c
            for (int i = c; i < n; i++) {
                double s = i == c ? 1 : 0;
                for (int p = c; p < i; p++) s -= l[i * n + p] * li[p * n + c];
                li[i * n + c] = s / l[i * n + i];
            }
        });
        double[] inv = new double[n * n];
        Parallel.forEach(n, i -> {
            for (int j = i; j < n; j++) {
                double s = 0;
                for (int p = j; p < n; p++) s += li[p * n + i] * li[p * n + j];
                inv[i * n + j] = s;
                inv[j * n + i] = s;
            }
        });
        return inv;
    }
}
