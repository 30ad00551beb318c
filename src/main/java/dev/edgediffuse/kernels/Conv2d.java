package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Buffers;

/**
 * 2-D convolution on channels-last (NHWC) maps as an implicit GEMM: each output pixel is a row whose K dimension is
 * gathered tap by tap straight from the input, so no im2col buffer is ever built.
 *
 * <p>The input reaches the GEMM through a band buffer: a few padded input rows at a time (at most
 * {@link #BAND_FLOATS} floats, the whole map when it fits), so a 512×512 VAE layer never needs a padded copy of its
 * whole input. While a band is filled, a {@link Prologue} can upsample the input 2× (nearest) and apply a group
 * norm's per-channel scale and shift and SiLU, so neither the upsampled nor the normalized map is ever stored.
 */
public final class Conv2d {
    private static final int PANELS_PER_TASK = 8;
    /** Input floats per band (16 MiB). */
    static final int BAND_FLOATS = 1 << 22;
    /** Per calling thread: a band lives for one convolution, so one growing buffer serves them all. */
    private static final ThreadLocal<float[]> BAND = new ThreadLocal<>();
    /** Per worker: the gathered input offsets of one task's rows. */
    private static final ThreadLocal<int[]> OFFSETS = ThreadLocal.withInitial(() -> new int[0]);

    /**
     * What happens to input values on their way into the convolution, in this order: nearest {@code upsample}×
     * repetition, then x·scale[b][c] + shift[b][c] when {@code scale} is not null, then SiLU when {@code silu}.
     */
    public record Prologue(int upsample, float[] scale, float[] shift, boolean silu) {
        public static final Prologue NONE = new Prologue(1, null, null, false);
        public static final Prologue UPSAMPLE_2X = new Prologue(2, null, null, false);

        public Prologue {
            if (upsample < 1) throw new IllegalArgumentException("upsample must be >= 1");
            if ((scale == null) != (shift == null) || (silu && scale == null)) {
                throw new IllegalArgumentException("scale and shift go together, and SiLU follows them");
            }
        }

        /** A group norm's affine ({@link Norms#groupNormAffine}), optionally followed by SiLU. */
        public static Prologue normalize(float[][] affine, boolean silu) {
            return new Prologue(1, affine[0], affine[1], silu);
        }

        boolean copiesValues() {
            return scale == null;
        }
    }

    private Conv2d() {}

    public static float[] conv(float[] x, int batch, int h, int w, int cin, PanelSource weight, int kh, int kw,
                               int stride, int[] pads, float[] bias) {
        return conv(x, batch, h, w, cin, weight, kh, kw, stride, pads, bias, Prologue.NONE, BAND_FLOATS);
    }

    public static float[] conv(float[] x, int batch, int h, int w, int cin, PanelSource weight, int kh, int kw,
                               int stride, int[] pads, float[] bias, Prologue prologue) {
        return conv(x, batch, h, w, cin, weight, kh, kw, stride, pads, bias, prologue, BAND_FLOATS);
    }

    /**
     * @param x        the input map [batch][h][w][cin] before the prologue
     * @param weight   B[K][N] with K = kh*kw*cin in (ky, kx, c) order (see {@link WeightPanels}), N = cout
     * @param pads     top, bottom, left, right zero padding (of the upsampled map)
     * @param bandFloats input floats per band; tests make it small to cross band and image boundaries
     * @return the output map [batch][oh][ow][cout]
     */
    static float[] conv(float[] x, int batch, int h, int w, int cin, PanelSource weight, int kh, int kw, int stride,
                        int[] pads, float[] bias, Prologue prologue, int bandFloats) {
        int cout = weight.cols();
        if (weight.rows() != kh * kw * cin) {
            throw new IllegalArgumentException("conv weight has K=" + weight.rows() + ", expected " + kh * kw * cin);
        }
        if (x.length != batch * h * w * cin) {
            throw new IllegalArgumentException("conv input has " + x.length + " values, expected " + batch * h * w * cin);
        }
        Geometry g = new Geometry(batch, h, w, cin, prologue.upsample(), kh, kw, stride, pads);
        float[] out = Buffers.take(batch * g.oh * g.ow * cout);
        boolean plain = kh == 1 && kw == 1 && stride == 1 && pads[0] + pads[1] + pads[2] + pads[3] == 0;
        if (plain && prologue.upsample() == 1 && prologue.copiesValues()) {
            Gemm.multiply(x, 0, cin, batch * h * w, weight, bias, out, 0, cout);
            return out;
        }
        Flops.add((long) batch * g.oh * g.ow * weight.rows() * cout);
        // output rows per band: as many as keep the band's padded input rows within the budget
        int inRows = Math.max(kh, bandFloats / (g.wp * cin));
        int bandRows = Math.max(1, (inRows - kh) / stride + 1);
        int totalRows = batch * g.oh, bands = (totalRows + bandRows - 1) / bandRows;
        Band[] reuse = new Band[1];
        Gemm.forEachPanelGroup(weight, (packed, p0, p1) -> {
            for (int r0 = 0; r0 < totalRows; r0 += bandRows) {
                int r1 = Math.min(totalRows, r0 + bandRows);
                // a single band is filled once and kept for every group of panels
                Band band = bands == 1 && reuse[0] != null ? reuse[0] : fill(x, g, prologue, r0, r1);
                reuse[0] = band;
                multiplyBand(band, g, packed, p0, p1, weight.rows(), cout, bias, out);
            }
        });
        return out;
    }

    /** Sizes of one convolution; the input as the GEMM sees it is (h·up + pads) × (w·up + pads). */
    private record Geometry(int batch, int h, int w, int cin, int up, int kh, int kw, int stride, int[] pads,
                            int hp, int wp, int oh, int ow) {
        Geometry(int batch, int h, int w, int cin, int up, int kh, int kw, int stride, int[] pads) {
            this(batch, h, w, cin, up, kh, kw, stride, pads, h * up + pads[0] + pads[1], w * up + pads[2] + pads[3],
                    (h * up + pads[0] + pads[1] - kh) / stride + 1, (w * up + pads[2] + pads[3] - kw) / stride + 1);
        }
    }

    /**
     * Padded input rows for output rows [r0, r1) (counted over the whole batch, image b's rows being b·oh…): for
     * each image the band touches, its padded rows from {@code first[i]} on, starting at buffer row {@code base[i]}.
     */
    private record Band(float[] data, int r0, int r1, int firstImage, int[] first, int[] base) {}

    private static Band fill(float[] x, Geometry g, Prologue pro, int r0, int r1) {
        int b0 = r0 / g.oh, b1 = (r1 - 1) / g.oh, images = b1 - b0 + 1;
        int[] first = new int[images], base = new int[images], count = new int[images];
        int rows = 0;
        for (int i = 0; i < images; i++) {
            int b = b0 + i;
            int oy0 = Math.max(r0, b * g.oh) - b * g.oh, oy1 = Math.min(r1, (b + 1) * g.oh) - b * g.oh;
            first[i] = oy0 * g.stride;
            count[i] = (oy1 - 1) * g.stride + g.kh - first[i];
            base[i] = rows;
            rows += count[i];
        }
        int rowFloats = g.wp * g.cin;
        float[] buf = BAND.get();
        if (buf == null || buf.length < rows * rowFloats) BAND.set(buf = new float[rows * rowFloats]);
        float[] dst = buf;
        Parallel.forEach(rows, row -> {
            int i = images - 1;
            while (base[i] > row) i--;
            fillRow(x, g, pro, b0 + i, first[i] + row - base[i], dst, row * rowFloats);
        });
        return new Band(buf, r0, r1, b0, first, base);
    }

    /** Padded row py of image b, through the prologue, into dst at d. */
    private static void fillRow(float[] x, Geometry g, Prologue pro, int b, int py, float[] dst, int d) {
        int c = g.cin, y = py - g.pads[0], iw = g.w * g.up;
        if (y < 0 || y >= g.h * g.up) {
            java.util.Arrays.fill(dst, d, d + g.wp * c, 0f);
            return;
        }
        int src = (b * g.h + y / g.up) * g.w * c;
        java.util.Arrays.fill(dst, d, d + g.pads[2] * c, 0f);
        java.util.Arrays.fill(dst, d + (g.pads[2] + iw) * c, d + g.wp * c, 0f);
        int at = d + g.pads[2] * c;
        if (g.up == 1 && pro.copiesValues()) {
            System.arraycopy(x, src, dst, at, iw * c);
            return;
        }
        for (int xx = 0; xx < iw; xx++, at += c) {
            int s = src + xx / g.up * c;
            if (pro.copiesValues()) System.arraycopy(x, s, dst, at, c);
            else Norms.applyAffine(x, s, dst, at, c, pro.scale(), pro.shift(), b * c, pro.silu());
        }
    }

    /** The GEMM of one band's output rows against panels [p0, p1). */
    private static void multiplyBand(Band band, Geometry g, float[] packed, int p0, int p1, int k, int cout, float[] bias, float[] out) {
        int m = (band.r1 - band.r0) * g.ow, taps = g.kh * g.kw, outBase = band.r0 * g.ow;
        int mTasks = (m + Gemm.ROWS_PER_TASK - 1) / Gemm.ROWS_PER_TASK, nTasks = (p1 - p0 + PANELS_PER_TASK - 1) / PANELS_PER_TASK;
        Parallel.forEach(mTasks * nTasks, task -> {
            int t0 = task / nTasks * Gemm.ROWS_PER_TASK, t1 = Math.min(m, t0 + Gemm.ROWS_PER_TASK);
            int q0 = p0 + task % nTasks * PANELS_PER_TASK, q1 = Math.min(p1, q0 + PANELS_PER_TASK);
            // gather offsets for every row block of the task once, then sweep panels outer so one packed
            // panel (K×16) stays in L2 while all of the task's rows stream past it
            int blocks = (t1 - t0 + Gemm.MR - 1) / Gemm.MR;
            int[] offs = OFFSETS.get();
            if (offs.length < blocks * taps * Gemm.MR) OFFSETS.set(offs = new int[blocks * taps * Gemm.MR]);
            for (int blk = 0; blk < blocks; blk++) {
                int r = t0 + blk * Gemm.MR, rows = Math.min(Gemm.MR, t1 - r);
                for (int i = 0; i < Gemm.MR; i++) {
                    int pix = outBase + r + Math.min(i, rows - 1);
                    int row = pix / g.ow, ox = pix % g.ow, b = row / g.oh, oy = row % g.oh, img = b - band.firstImage;
                    int bufRow = band.base[img] + oy * g.stride - band.first[img];
                    for (int ky = 0; ky < g.kh; ky++) {
                        for (int kx = 0; kx < g.kw; kx++) {
                            offs[(blk * taps + ky * g.kw + kx) * Gemm.MR + i] = ((bufRow + ky) * g.wp + ox * g.stride + kx) * g.cin;
                        }
                    }
                }
            }
            for (int p = q0; p < q1; p++) {
                for (int blk = 0; blk < blocks; blk++) {
                    int r = t0 + blk * Gemm.MR, rows = Math.min(Gemm.MR, t1 - r);
                    Gemm.kernel(band.data, offs, blk * taps * Gemm.MR, taps, g.cin, packed, (p - p0) * k * Gemm.NR, bias, out,
                            (outBase + r) * cout, cout, rows, p * Gemm.NR, cout);
                }
            }
        });
    }
}
