package dev.edgediffuse.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Backward passes of {@link Activations}: each takes the forward input and the output gradient, returns dX. Vectorized
 * with {@link VectorMath}'s transcendentals (GEGLU's was 13% of a UNet training step as scalar double code).
 */
public final class ActivationGrad {
    private static final VectorSpecies<Float> S = VectorWidth.BLOCK_FLOAT;
    private static final double SQRT_2PI = Math.sqrt(2 * Math.PI);
    private static final float INV_SQRT_2PI = (float) (1 / SQRT_2PI);

    private ActivationGrad() {}

    public static float[] silu(float[] x, float[] dy) {
        float[] dx = new float[x.length];
        Activations.chunks(x.length, (a, b) -> {
            int i = a;
            for (int end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) {
                FloatVector.fromArray(S, dy, i).mul(VectorMath.siluSlope(FloatVector.fromArray(S, x, i))).intoArray(dx, i);
            }
            for (; i < b; i++) dx[i] = (float) (dy[i] * NormGrad.siluSlope(x[i]));
        });
        return dx;
    }

    public static float[] quickGelu(float[] x, float[] dy) {
        float[] dx = new float[x.length];
        Activations.chunks(x.length, (a, b) -> {
            int i = a;
            for (int end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, i), s = VectorMath.sigmoid(v.mul(1.702f));
                // σ(1.702x) + 1.702x·σ·(1 − σ)
                FloatVector slope = s.add(v.mul(1.702f).mul(s).mul(s.broadcast(1f).sub(s)));
                FloatVector.fromArray(S, dy, i).mul(slope).intoArray(dx, i);
            }
            for (; i < b; i++) {
                double s = 1.0 / (1.0 + Math.exp(-1.702 * x[i]));
                dx[i] = (float) (dy[i] * (s + 1.702 * x[i] * s * (1 - s)));
            }
        });
        return dx;
    }

    /**
     * dY·(Φ(x) + x·φ(x)). Φ and φ run in two passes, each its own compiled lambda: one body with both exponentials
     * outgrew C2's inlining budget and boxed its vectors through calls.
     */
    public static float[] gelu(float[] x, float[] dy) {
        float[] dx = new float[x.length];
        Activations.chunks(x.length, (a, b) -> {
            for (int i = a, end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) {
                VectorMath.normalCdf(FloatVector.fromArray(S, x, i)).intoArray(dx, i);
            }
        });
        Activations.chunks(x.length, (a, b) -> {
            int i = a;
            for (int end = VectorWidth.blockEnd(a, b); i < end; i += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, i), cdf = FloatVector.fromArray(S, dx, i);
                FloatVector.fromArray(S, dy, i).mul(cdf.add(v.mul(density(v)))).intoArray(dx, i);
            }
            for (; i < b; i++) dx[i] = (float) (dy[i] * geluSlope(x[i]));
        });
        return dx;
    }

    /** GEGLU rows [hidden | gate] (width 2d) → dX of the same shape, for dY rows of width d; two passes, as {@link #gelu}. */
    public static float[] geglu(float[] x, float[] dy, int rows, int d) {
        float[] dx = new float[x.length];
        int blocks = VectorWidth.blockEnd(0, d);
        Parallel.forEach(rows, r -> {
            int in = r * 2 * d, o = r * d;
            for (int j = 0; j < blocks; j += S.length()) {
                FloatVector gate = FloatVector.fromArray(S, x, in + d + j), cdf = VectorMath.normalCdf(gate);
                FloatVector.fromArray(S, dy, o + j).mul(gate.mul(cdf)).intoArray(dx, in + j);
                cdf.intoArray(dx, in + d + j);
            }
            for (int j = blocks; j < d; j++) {
                float hidden = x[in + j], gate = x[in + d + j];
                dx[in + j] = dy[o + j] * Activations.gelu(gate);
                dx[in + d + j] = (float) (dy[o + j] * hidden * geluSlope(gate));
            }
        });
        Parallel.forEach(rows, r -> {
            int in = r * 2 * d, o = r * d;
            for (int j = 0; j < blocks; j += S.length()) {
                FloatVector hidden = FloatVector.fromArray(S, x, in + j), gate = FloatVector.fromArray(S, x, in + d + j);
                FloatVector cdf = FloatVector.fromArray(S, dx, in + d + j);
                FloatVector.fromArray(S, dy, o + j).mul(hidden).mul(cdf.add(gate.mul(density(gate)))).intoArray(dx, in + d + j);
            }
        });
        return dx;
    }

    /** Sums each 2×2 block of the upsampled gradient back onto its source pixel. */
    public static float[] upsample2x(float[] dy, int batch, int h, int w, int c) {
        float[] dx = new float[batch * h * w * c];
        Parallel.forEach(batch * h, row -> {
            int b = row / h, y = row % h;
            for (int xx = 0; xx < w; xx++) {
                int dst = ((b * h + y) * w + xx) * c;
                for (int dyy = 0; dyy < 2; dyy++)
                    for (int dxx = 0; dxx < 2; dxx++) {
                        int src = ((b * 2 * h + 2 * y + dyy) * 2 * w + 2 * xx + dxx) * c;
                        for (int j = 0; j < c; j++) dx[dst + j] += dy[src + j];
                    }
            }
        });
        return dx;
    }

    /** φ(x), the standard normal density. */
    private static FloatVector density(FloatVector x) {
        return VectorMath.exp(x.mul(x).mul(-0.5f)).mul(INV_SQRT_2PI);
    }

    /** Φ(x) + x·φ(x). */
    static double geluSlope(double x) {
        return 0.5 * (1.0 + Activations.erf(x / Math.sqrt(2.0))) + x * Math.exp(-0.5 * x * x) / SQRT_2PI;
    }
}
