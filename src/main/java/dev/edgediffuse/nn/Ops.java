package dev.edgediffuse.nn;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.ActivationGrad;
import dev.edgediffuse.kernels.Activations;
import dev.edgediffuse.kernels.Attention;
import dev.edgediffuse.kernels.AttentionGrad;
import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * The parameter-free operations model code composes between layers, each differentiable. For inference they work
 * in place where they can (the argument is returned); while a {@link Tape} records they return new arrays and
 * record their backward. Callers always use the returned value.
 */
public final class Ops {
    private Ops() {}

    /** a + b (into a when not recording). */
    public static float[] add(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("cannot add " + a.length + " and " + b.length + " values");
        if (!Tape.recording()) {
            Activations.addInPlace(a, b);
            return a;
        }
        float[] y = a.clone();
        Activations.addInPlace(y, b);
        Tape.record(y, (t, dy) -> {
            t.accumulate(a, dy);
            t.accumulate(b, dy);
        }, a, b);
        return y;
    }

    /** a + s·b (into a when not recording). */
    public static float[] addScaled(float[] a, float[] b, float s) {
        if (a.length != b.length) throw new IllegalArgumentException("cannot add " + a.length + " and " + b.length + " values");
        float[] y = Tape.recording() ? a.clone() : a;
        for (int i = 0; i < y.length; i++) y[i] += s * b[i];
        Tape.record(y, (t, dy) -> {
            t.accumulate(a, dy);
            if (t.needs(b)) {
                float[] db = new float[dy.length];
                for (int i = 0; i < db.length; i++) db[i] = s * dy[i];
                t.accumulateFresh(b, db);
            }
        }, a, b);
        return y;
    }

    /** max(0, x). */
    public static float[] relu(float[] x) {
        float[] y = Tape.recording() ? x.clone() : x;
        for (int i = 0; i < y.length; i++) y[i] = Math.max(0f, y[i]);
        Tape.record(y, (t, dy) -> {
            float[] dx = new float[dy.length];
            for (int i = 0; i < dx.length; i++) dx[i] = x[i] > 0 ? dy[i] : 0f;
            t.accumulateFresh(x, dx);
        }, x);
        return y;
    }

    /** a·x + b. */
    public static float[] scaleShift(float[] x, float a, float b) {
        float[] y = Tape.recording() ? x.clone() : x;
        for (int i = 0; i < y.length; i++) y[i] = y[i] * a + b;
        Tape.record(y, (t, dy) -> {
            float[] dx = new float[dy.length];
            for (int i = 0; i < dx.length; i++) dx[i] = a * dy[i];
            t.accumulateFresh(x, dx);
        }, x);
        return y;
    }

    public static float[] silu(float[] x) {
        if (!Tape.recording()) {
            Activations.silu(x);
            return x;
        }
        float[] y = x.clone();
        Activations.silu(y);
        Tape.record(y, (t, dy) -> t.accumulateFresh(x, ActivationGrad.silu(x, dy)), x);
        return y;
    }

    public static float[] gelu(float[] x) {
        if (!Tape.recording()) {
            Activations.gelu(x);
            return x;
        }
        float[] y = x.clone();
        Activations.gelu(y);
        Tape.record(y, (t, dy) -> t.accumulateFresh(x, ActivationGrad.gelu(x, dy)), x);
        return y;
    }

    public static float[] quickGelu(float[] x) {
        if (!Tape.recording()) {
            Activations.quickGelu(x);
            return x;
        }
        float[] y = x.clone();
        Activations.quickGelu(y);
        Tape.record(y, (t, dy) -> t.accumulateFresh(x, ActivationGrad.quickGelu(x, dy)), x);
        return y;
    }

    /** Rows [hidden | gate] of width 2d → hidden·gelu(gate), rows of width d. */
    public static float[] geglu(float[] x, int rows, int d) {
        float[] y = Activations.geglu(x, rows, d);
        Tape.record(y, (t, dy) -> t.accumulateFresh(x, ActivationGrad.geglu(x, dy, rows, d)), x);
        return y;
    }

    /** Multi-head attention softmax(QKᵀ/√d)V; see {@link Attention#attend}. */
    public static float[] attend(float[] q, float[] k, float[] v, int batch, int tq, int tk, int heads, int d, boolean causal) {
        float[] y = Attention.attend(q, k, v, batch, tq, tk, heads, d, causal);
        Tape.record(y, (t, dy) -> {
            float[][] g = AttentionGrad.attend(q, k, v, dy, batch, tq, tk, heads, d, causal);
            t.accumulateFresh(q, g[0]);
            t.accumulateFresh(k, g[1]);
            t.accumulateFresh(v, g[2]);
        }, q, k, v);
        return y;
    }

    /** The mean over each batch item's tokens: x [batch][tokens][c] → [batch][c] (a new array). */
    public static float[] tokenMean(float[] x, int batch, int tokens, int c) {
        float[] y = new float[batch * c];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < tokens; t++) {
                int row = (b * tokens + t) * c;
                for (int j = 0; j < c; j++) y[b * c + j] += x[row + j];
            }
            for (int j = 0; j < c; j++) y[b * c + j] /= tokens;
        }
        Tape.record(y, (t, dy) -> {
            float[] dx = new float[x.length];
            for (int b = 0; b < batch; b++)
                for (int k = 0; k < tokens; k++)
                    for (int j = 0; j < c; j++) dx[(b * tokens + k) * c + j] = dy[b * c + j] / tokens;
            t.accumulateFresh(x, dx);
        }, x);
        return y;
    }

    /** row (c values) added to every row of x [rows][c] (a new array). */
    public static float[] addToRows(float[] x, float[] row) {
        int c = row.length;
        if (x.length % c != 0) throw new IllegalArgumentException(x.length + " values are not rows of " + c);
        float[] y = x.clone();
        for (int i = 0; i < y.length; i++) y[i] += row[i % c];
        Tape.record(y, (t, dy) -> {
            t.accumulate(x, dy);
            t.accumulateFresh(row, Matmul.columnSums(dy, dy.length / c, c));
        }, x, row);
        return y;
    }

    /** Each batch item's first token before its others: [batch][c] and [batch][tokens][c] → [batch][1 + tokens][c]. */
    public static float[] prependToken(float[] first, float[] rest, int batch, int tokens, int c) {
        float[] y = new float[batch * (tokens + 1) * c];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(first, b * c, y, b * (tokens + 1) * c, c);
            System.arraycopy(rest, b * tokens * c, y, (b * (tokens + 1) + 1) * c, tokens * c);
        }
        Tape.record(y, (t, dy) -> {
            float[] dFirst = new float[first.length], dRest = new float[rest.length];
            for (int b = 0; b < batch; b++) {
                System.arraycopy(dy, b * (tokens + 1) * c, dFirst, b * c, c);
                System.arraycopy(dy, (b * (tokens + 1) + 1) * c, dRest, b * tokens * c, tokens * c);
            }
            t.accumulateFresh(first, dFirst);
            t.accumulateFresh(rest, dRest);
        }, first, rest);
        return y;
    }

    /** Nearest-neighbour 2× upsampling. */
    public static FeatureMap upsample2x(FeatureMap x) {
        int b = x.batch(), h = x.height(), w = x.width(), c = x.channels();
        float[] y = Activations.upsample2x(x.data(), b, h, w, c);
        Tape.record(y, (t, dy) -> t.accumulateFresh(x.data(), ActivationGrad.upsample2x(dy, b, h, w, c)), x.data());
        return new FeatureMap(y, b, 2 * h, 2 * w, c);
    }

    /** torch.cat([first, second], dim=1) in NCHW terms: each pixel's channels are first's, then second's. */
    public static FeatureMap concat(FeatureMap first, FeatureMap second) {
        if (first.batch() != second.batch() || first.height() != second.height() || first.width() != second.width()) {
            throw new IllegalArgumentException("cannot concatenate " + first.height() + "x" + first.width()
                    + " and " + second.height() + "x" + second.width() + " maps");
        }
        int c1 = first.channels(), c2 = second.channels(), c = c1 + c2;
        int pixels = first.batch() * first.pixels();
        float[] out = Buffers.take(pixels * c);
        for (int p = 0; p < pixels; p++) {
            System.arraycopy(first.data(), p * c1, out, p * c, c1);
            System.arraycopy(second.data(), p * c2, out, p * c + c1, c2);
        }
        Tape.record(out, (t, dy) -> {
            float[] d1 = new float[pixels * c1], d2 = new float[pixels * c2];
            for (int p = 0; p < pixels; p++) {
                System.arraycopy(dy, p * c, d1, p * c1, c1);
                System.arraycopy(dy, p * c + c1, d2, p * c2, c2);
            }
            t.accumulateFresh(first.data(), d1);
            t.accumulateFresh(second.data(), d2);
        }, first.data(), second.data());
        return new FeatureMap(out, first.batch(), first.height(), first.width(), c);
    }

    /** Adds perBatch[b][c] to every pixel of batch item b (in place when not recording). */
    public static FeatureMap addPerBatch(FeatureMap x, float[] perBatch) {
        int c = x.channels(), hw = x.pixels(), batch = x.batch();
        float[] d = Tape.recording() ? x.data().clone() : x.data();
        for (int b = 0; b < batch; b++)
            for (int p = 0; p < hw; p++) {
                int o = (b * hw + p) * c;
                for (int j = 0; j < c; j++) d[o + j] += perBatch[b * c + j];
            }
        Tape.record(d, (t, dy) -> {
            t.accumulate(x.data(), dy);
            float[] dp = new float[batch * c];
            for (int b = 0; b < batch; b++)
                for (int p = 0; p < hw; p++)
                    for (int j = 0; j < c; j++) dp[b * c + j] += dy[(b * hw + p) * c + j];
            t.accumulate(perBatch, dp);
        }, x.data(), perBatch);
        return x.with(d);
    }
}
