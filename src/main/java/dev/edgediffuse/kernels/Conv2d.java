package dev.edgediffuse.kernels;

/**
 * 2-D convolution on channels-last (NHWC) maps as an implicit GEMM: each output pixel is a row whose K dimension is
 * gathered tap by tap straight from the (padded) input, so no im2col buffer is ever built.
 */
public final class Conv2d {
    private static final int ROWS_PER_TASK = 64;
    private static final int PANELS_PER_TASK = 8;

    private Conv2d() {}

    /**
     * @param weight B[K][N] with K = kh*kw*cin in (ky, kx, c) order (see {@link WeightPanels}), N = cout
     * @param pads   top, bottom, left, right zero padding
     * @return the output map [batch][oh][ow][cout]
     */
    public static float[] conv(float[] x, int batch, int h, int w, int cin, PanelSource weight, int kh, int kw,
                               int stride, int[] pads, float[] bias) {
        int cout = weight.cols();
        if (weight.rows() != kh * kw * cin) {
            throw new IllegalArgumentException("conv weight has K=" + weight.rows() + ", expected " + kh * kw * cin);
        }
        int hp = h + pads[0] + pads[1], wp = w + pads[2] + pads[3];
        int oh = (hp - kh) / stride + 1, ow = (wp - kw) / stride + 1;
        float[] out = new float[batch * oh * ow * cout];
        if (kh == 1 && kw == 1 && stride == 1 && pads[0] + pads[1] + pads[2] + pads[3] == 0) {
            Gemm.multiply(x, 0, cin, batch * h * w, weight, bias, out, 0, cout);
            return out;
        }
        Flops.add((long) batch * oh * ow * weight.rows() * cout);
        float[] xp = pad(x, batch, h, w, cin, pads);
        float[] packed = Gemm.pack(weight, true);
        int m = batch * oh * ow, k = weight.rows(), taps = kh * kw;
        int panels = weight.panels();
        int mTasks = (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, nTasks = (panels + PANELS_PER_TASK - 1) / PANELS_PER_TASK;
        Parallel.forEach(mTasks * nTasks, task -> {
            int r0 = task / nTasks * ROWS_PER_TASK, r1 = Math.min(m, r0 + ROWS_PER_TASK);
            int p0 = task % nTasks * PANELS_PER_TASK, p1 = Math.min(panels, p0 + PANELS_PER_TASK);
            // gather offsets for every row block of the task once, then sweep panels outer so one packed
            // panel (K×16) stays in L2 while all of the task's rows stream past it
            int blocks = (r1 - r0 + Gemm.MR - 1) / Gemm.MR;
            int[] offs = new int[blocks * taps * Gemm.MR];
            for (int blk = 0; blk < blocks; blk++) {
                int r = r0 + blk * Gemm.MR, rows = Math.min(Gemm.MR, r1 - r);
                for (int i = 0; i < Gemm.MR; i++) {
                    int pix = r + Math.min(i, rows - 1);
                    int b = pix / (oh * ow), rem = pix % (oh * ow), oy = rem / ow, ox = rem % ow;
                    for (int ky = 0; ky < kh; ky++) {
                        for (int kx = 0; kx < kw; kx++) {
                            offs[(blk * taps + ky * kw + kx) * Gemm.MR + i] = ((b * hp + oy * stride + ky) * wp + ox * stride + kx) * cin;
                        }
                    }
                }
            }
            for (int p = p0; p < p1; p++) {
                for (int blk = 0; blk < blocks; blk++) {
                    int r = r0 + blk * Gemm.MR, rows = Math.min(Gemm.MR, r1 - r);
                    Gemm.kernel(xp, offs, blk * taps * Gemm.MR, taps, cin, packed, p * k * Gemm.NR, bias, out, r * cout, cout,
                            rows, p * Gemm.NR, cout);
                }
            }
        });
        return out;
    }

    /** Per calling thread: the padded copy only lives for one convolution, so one growing buffer serves them all. */
    private static final ThreadLocal<float[]> PADDED = new ThreadLocal<>();

    private static float[] pad(float[] x, int batch, int h, int w, int c, int[] pads) {
        if (pads[0] + pads[1] + pads[2] + pads[3] == 0) return x;
        int hp = h + pads[0] + pads[1], wp = w + pads[2] + pads[3];
        int size = batch * hp * wp * c;
        float[] xp = PADDED.get();
        if (xp == null || xp.length < size) PADDED.set(xp = new float[size]);
        else zeroBorder(xp, batch, h, w, c, pads);
        float[] dst = xp;
        Parallel.forEach(batch * h, row -> {
            int b = row / h, y = row % h;
            System.arraycopy(x, (b * h + y) * w * c, dst, ((b * hp + y + pads[0]) * wp + pads[2]) * c, w * c);
        });
        return xp;
    }

    /** Zeroes the padding frame of a reused buffer (the interior is overwritten by the copy). */
    private static void zeroBorder(float[] xp, int batch, int h, int w, int c, int[] pads) {
        int hp = h + pads[0] + pads[1], wp = w + pads[2] + pads[3];
        for (int b = 0; b < batch; b++) {
            int img = b * hp * wp * c;
            java.util.Arrays.fill(xp, img, img + pads[0] * wp * c, 0f);
            java.util.Arrays.fill(xp, img + (pads[0] + h) * wp * c, img + hp * wp * c, 0f);
            for (int y = pads[0]; y < pads[0] + h; y++) {
                int row = img + y * wp * c;
                java.util.Arrays.fill(xp, row, row + pads[2] * c, 0f);
                java.util.Arrays.fill(xp, row + (pads[2] + w) * c, row + wp * c, 0f);
            }
        }
    }
}
