package dev.edgediffuse.compress;

import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * What calibration keeps of one layer's inputs: per input channel the largest |x| and the mean x², the tensor's
 * min and max (the activation range), and GPTQ's Hessian H = XᵀX / rows over the layer's input rows, accumulated in
 * double. A linear layer's rows are its input rows (K = in); a convolution's rows are its im2col patches, one per
 * output pixel, with K = in·kh·kw in the weight's stored order (c, ky, kx) and the padding's zeros included — so H
 * pairs with the stored weight [out][K] exactly as a linear layer's does. H is block-diagonal: blocks of
 * {@code block} columns (the last one shorter), which bounds memory at K·block doubles per layer (a 2880·9-wide
 * SD1.5 conv would need 5 GB as one block).
 */
final class InputStatistics {
    final String path;
    final int channels, k, kernel, stride;
    final int[] pads;
    final int block;
    final float[] absMax;
    final double[] sqSum;
    float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
    /** Input rows (linear) or input pixels (conv) seen, for the channel statistics. */
    long values;
    /** Rows of X (linear rows, or conv patches) summed into the Hessian. */
    long rows;
    final double[][] hessian;

    /** A linear layer's statistics: K = in. */
    static InputStatistics linear(String path, int in, int block) {
        return new InputStatistics(path, in, 1, 1, new int[4], block);
    }

    static InputStatistics conv(String path, int in, int kernel, int stride, int[] pads, int block) {
        return new InputStatistics(path, in, kernel, stride, pads, block);
    }

    private InputStatistics(String path, int channels, int kernel, int stride, int[] pads, int block) {
        this.path = path;
        this.channels = channels;
        this.kernel = kernel;
        this.stride = stride;
        this.pads = pads.clone();
        this.k = channels * kernel * kernel;
        this.block = block;
        this.absMax = new float[channels];
        this.sqSum = new double[channels];
        this.hessian = new double[(k + block - 1) / block][]; // allocated at the first input, after the caller checked the total
    }

    int blockLength(int b) {
        return Math.min(block, k - b * block);
    }

    boolean isConv() {
        return kernel > 1 || stride > 1;
    }

    /** Rows [first, first + count) of a linear layer's input x [rows][channels]. */
    synchronized void observeRows(float[] x, int first, int count) {
        allocate();
        channelStatistics(x, first * channels, count);
        float[] rowsX = x;
        if (first != 0) {
            rowsX = new float[count * channels];
            System.arraycopy(x, first * channels, rowsX, 0, rowsX.length);
        }
        for (int b = 0; b < hessian.length; b++) {
            int len = blockLength(b);
            float[] cols = hessian.length == 1 ? rowsX : columns(rowsX, count, b * block, len);
            add(hessian[b], Matmul.tn(cols, count, len, cols, len));
        }
        rows += count;
    }

    /** A convolution's input map: its pixels for the channel statistics, its patches for the Hessian. */
    synchronized void observeMap(FeatureMap x) {
        if (x.channels() != channels) throw new IllegalArgumentException(path + ": input has " + x.channels() + " channels, expected " + channels);
        allocate();
        channelStatistics(x.data(), 0, x.batch() * x.pixels());
        int oh = (x.height() + pads[0] + pads[1] - kernel) / stride + 1, ow = (x.width() + pads[2] + pads[3] - kernel) / stride + 1;
        int patches = x.batch() * oh * ow;
        int chunk = Math.max(16, Math.min(patches, (1 << 20) / Math.min(k, block)));
        for (int p0 = 0; p0 < patches; p0 += chunk) {
            int n = Math.min(chunk, patches - p0);
            for (int b = 0; b < hessian.length; b++) {
                int len = blockLength(b);
                float[] cols = patches(x, oh, ow, p0, n, b * block, len);
                add(hessian[b], Matmul.tn(cols, n, len, cols, len));
            }
        }
        rows += patches;
    }

    private void channelStatistics(float[] x, int off, int count) {
        for (int r = 0; r < count; r++) {
            int base = off + r * channels;
            for (int c = 0; c < channels; c++) {
                float v = x[base + c];
                float a = Math.abs(v);
                if (a > absMax[c]) absMax[c] = a;
                sqSum[c] += (double) v * v;
                if (v < min) min = v;
                if (v > max) max = v;
            }
        }
        values += count;
    }

    /** Columns [c0, c0 + len) of x [rows][channels]. */
    private float[] columns(float[] x, int rows, int c0, int len) {
        float[] out = new float[rows * len];
        for (int r = 0; r < rows; r++) System.arraycopy(x, r * channels + c0, out, r * len, len);
        return out;
    }

    /** im2col: patches [p0, p0 + n) as rows, restricted to columns [c0, c0 + len) of K in (c, ky, kx) order. */
    private float[] patches(FeatureMap x, int oh, int ow, int p0, int n, int c0, int len) {
        float[] out = new float[n * len];
        float[] d = x.data();
        int h = x.height(), w = x.width(), taps = kernel * kernel;
        for (int i = 0; i < n; i++) {
            int p = p0 + i, b = p / (oh * ow), oy = p / ow % oh, ox = p % ow;
            int row = i * len;
            for (int j = 0; j < len; j++) {
                int col = c0 + j, c = col / taps, tap = col % taps;
                int iy = oy * stride + tap / kernel - pads[0], ix = ox * stride + tap % kernel - pads[2];
                out[row + j] = iy < 0 || iy >= h || ix < 0 || ix >= w ? 0f : d[((b * h + iy) * w + ix) * channels + c];
            }
        }
        return out;
    }

    private void allocate() {
        if (hessian.length > 0 && hessian[0] != null) return;
        for (int b = 0; b < hessian.length; b++) hessian[b] = new double[blockLength(b) * blockLength(b)];
    }

    private static void add(double[] acc, float[] v) {
        for (int i = 0; i < acc.length; i++) acc[i] += v[i];
    }

    /** Memory the Hessian blocks of a layer take (bytes), before it is built. */
    static long hessianBytes(int k, int block) {
        long total = 0;
        for (int c0 = 0; c0 < k; c0 += block) {
            long len = Math.min(block, k - c0);
            total += len * len * 8;
        }
        return total;
    }
}
