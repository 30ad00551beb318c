package dev.edgediffuse.kernels;

/** Backward passes of {@link Activations}: each takes the forward input and the output gradient, returns dX. */
public final class ActivationGrad {
    private static final double SQRT_2PI = Math.sqrt(2 * Math.PI);

    private ActivationGrad() {}

    public static float[] silu(float[] x, float[] dy) {
        float[] dx = new float[x.length];
        Activations.chunks(x.length, (a, b) -> {
            for (int i = a; i < b; i++) dx[i] = (float) (dy[i] * NormGrad.siluSlope(x[i]));
        });
        return dx;
    }

    public static float[] quickGelu(float[] x, float[] dy) {
        float[] dx = new float[x.length];
        Activations.chunks(x.length, (a, b) -> {
            for (int i = a; i < b; i++) {
                double s = 1.0 / (1.0 + Math.exp(-1.702 * x[i]));
                dx[i] = (float) (dy[i] * (s + 1.702 * x[i] * s * (1 - s)));
            }
        });
        return dx;
    }

    public static float[] gelu(float[] x, float[] dy) {
        float[] dx = new float[x.length];
        Activations.chunks(x.length, (a, b) -> {
            for (int i = a; i < b; i++) dx[i] = (float) (dy[i] * geluSlope(x[i]));
        });
        return dx;
    }

    /** GEGLU rows [hidden | gate] (width 2d) → dX of the same shape, for dY rows of width d. */
    public static float[] geglu(float[] x, float[] dy, int rows, int d) {
        float[] dx = new float[x.length];
        Parallel.forEach(rows, r -> {
            int in = r * 2 * d, o = r * d;
            for (int j = 0; j < d; j++) {
                float hidden = x[in + j], gate = x[in + d + j];
                dx[in + j] = dy[o + j] * Activations.gelu(gate);
                dx[in + d + j] = (float) (dy[o + j] * hidden * geluSlope(gate));
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

    /** Φ(x) + x·φ(x). */
    static double geluSlope(double x) {
        return 0.5 * (1.0 + Activations.erf(x / Math.sqrt(2.0))) + x * Math.exp(-0.5 * x * x) / SQRT_2PI;
    }
}
