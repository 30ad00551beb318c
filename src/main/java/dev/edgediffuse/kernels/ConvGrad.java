package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Weight;

/**
 * The two products a convolution's backward pass needs, through an explicit im2col of the input (the maps of the
 * models trained here are small, so the buffer is cheap, and the products run on the GEMM kernel). Weights are in
 * PyTorch's [out][in][kh][kw] order; the column order is (ky, kx, c), as in {@link Conv2d}.
 */
public final class ConvGrad {
    private ConvGrad() {}

    public record Shape(int batch, int h, int w, int cin, int cout, int kernel, int stride, int[] pads) {
        public int outH() {
            return (h + pads[0] + pads[1] - kernel) / stride + 1;
        }

        public int outW() {
            return (w + pads[2] + pads[3] - kernel) / stride + 1;
        }

        int k() {
            return kernel * kernel * cin;
        }

        boolean pointwise() {
            return kernel == 1 && stride == 1 && pads[0] + pads[1] + pads[2] + pads[3] == 0;
        }
    }

    /**
     * dX for dY [batch·oh·ow][cout] and weight [cout][cin][k][k]. With stride 1 this is itself a convolution (of dY
     * with the flipped, transposed kernel, padded by k−1−p), run on the implicit-GEMM kernel with no column buffer.
     */
    public static float[] inputGrad(float[] dy, float[] weight, Shape s) {
        if (s.stride == 1 && !s.pointwise()) {
            int k = s.kernel, taps = k * k;
            float[] flipped = new float[weight.length];
            Parallel.forEach(s.cout, co -> {
                for (int ci = 0; ci < s.cin; ci++)
                    for (int t = 0; t < taps; t++) flipped[(ci * s.cout + co) * taps + (taps - 1 - t)] = weight[(co * s.cin + ci) * taps + t];
            });
            int[] pads = {k - 1 - s.pads[0], k - 1 - s.pads[1], k - 1 - s.pads[2], k - 1 - s.pads[3]};
            WeightPanels w = new WeightPanels(Weight.ofFloats("grad", flipped, s.cin, s.cout, k, k));
            return Conv2d.conv(dy, s.batch, s.outH(), s.outW(), s.cout, w, k, k, 1, pads, null);
        }
        float[] wk = tapsMajor(weight, s.cout, s.cin, s.kernel * s.kernel);
        float[] dcols = Matmul.nn(dy, s.batch * s.outH() * s.outW(), s.cout, wk, s.k());
        if (s.pointwise()) return dcols;
        float[] dx = new float[s.batch * s.h * s.w * s.cin];
        col2im(dcols, dx, s);
        return dx;
    }

    /** dW [cout][cin][k][k] for input x [batch][h][w][cin] and dY. */
    public static float[] weightGrad(float[] x, float[] dy, Shape s) {
        float[] cols = s.pointwise() ? x : im2col(x, s);
        float[] dwk = Matmul.tn(dy, s.batch * s.outH() * s.outW(), s.cout, cols, s.k());
        return channelMajor(dwk, s.cout, s.cin, s.kernel * s.kernel);
    }

    /** The column buffer of {@link #im2col}, per thread: it is only read inside weightGrad, and tens of MB at a time. */
    private static final ThreadLocal<float[]> COLUMNS = ThreadLocal.withInitial(() -> new float[0]);

    /** x as rows of k·k·cin taps (zeros where a tap falls in the padding), in this thread's reused buffer. */
    static float[] im2col(float[] x, Shape s) {
        int oh = s.outH(), ow = s.outW(), k = s.k(), cin = s.cin;
        float[] cols = COLUMNS.get();
        if (cols.length < s.batch * oh * ow * k) COLUMNS.set(cols = new float[s.batch * oh * ow * k]);
        float[] out = cols;
        Parallel.forEach(s.batch * oh, row -> {
            int b = row / oh, oy = row % oh;
            for (int ox = 0; ox < ow; ox++) {
                int dst = ((b * oh + oy) * ow + ox) * k;
                for (int ky = 0; ky < s.kernel; ky++) {
                    int iy = oy * s.stride + ky - s.pads[0];
                    for (int kx = 0; kx < s.kernel; kx++) {
                        int ix = ox * s.stride + kx - s.pads[2], at = dst + (ky * s.kernel + kx) * cin;
                        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) java.util.Arrays.fill(out, at, at + cin, 0f);
                        else System.arraycopy(x, ((b * s.h + iy) * s.w + ix) * cin, out, at, cin);
                    }
                }
            }
        });
        return cols;
    }

    /** Scatter-adds columns back onto the input map; one task per image so no two tasks write the same pixel. */
    static void col2im(float[] cols, float[] dx, Shape s) {
        int oh = s.outH(), ow = s.outW(), k = s.k(), cin = s.cin;
        Parallel.forEach(s.batch, b -> {
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    int src = ((b * oh + oy) * ow + ox) * k;
                    for (int ky = 0; ky < s.kernel; ky++) {
                        int iy = oy * s.stride + ky - s.pads[0];
                        if (iy < 0 || iy >= s.h) continue;
                        for (int kx = 0; kx < s.kernel; kx++) {
                            int ix = ox * s.stride + kx - s.pads[2];
                            if (ix < 0 || ix >= s.w) continue;
                            int d = ((b * s.h + iy) * s.w + ix) * cin, c0 = src + (ky * s.kernel + kx) * cin;
                            for (int c = 0; c < cin; c++) dx[d + c] += cols[c0 + c];
                        }
                    }
                }
        });
    }

    /** [out][c][taps] → [out][taps][c]. */
    static float[] tapsMajor(float[] w, int out, int c, int taps) {
        if (taps == 1) return w;
        float[] r = new float[w.length];
        Parallel.forEach(out, o -> {
            for (int ch = 0; ch < c; ch++)
                for (int t = 0; t < taps; t++) r[(o * taps + t) * c + ch] = w[(o * c + ch) * taps + t];
        });
        return r;
    }

    /** [out][taps][c] → [out][c][taps]. */
    static float[] channelMajor(float[] w, int out, int c, int taps) {
        if (taps == 1) return w;
        float[] r = new float[w.length];
        Parallel.forEach(out, o -> {
            for (int t = 0; t < taps; t++)
                for (int ch = 0; ch < c; ch++) r[(o * c + ch) * taps + t] = w[(o * taps + t) * c + ch];
        });
        return r;
    }
}
