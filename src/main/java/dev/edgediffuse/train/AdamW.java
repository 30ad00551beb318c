package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;

import java.util.List;

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping. Weight decay skips
 * vectors (biases, norm scales), as is usual for transformers and diffusion UNets.
 */
public final class AdamW {
    private final Parameters params;
    final Parameters m, v;
    private final float beta1, beta2, eps, weightDecay, clipNorm;
    long step;

    public AdamW(Parameters params, double beta1, double beta2, double eps, double weightDecay, double clipNorm) {
        this.params = params;
        this.m = zeros(params);
        this.v = zeros(params);
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
        this.weightDecay = (float) weightDecay;
        this.clipNorm = (float) clipNorm;
    }

    private static Parameters zeros(Parameters p) {
        Parameters z = p.copy();
        for (float[] a : z.arrays()) java.util.Arrays.fill(a, 0f);
        return z;
    }

    /** One update from the gradients the tape holds; returns the gradient norm before clipping. */
    public double step(Tape tape, double lr) {
        List<String> names = params.names();
        double sq = 0;
        for (String n : names) {
            float[] g = tape.grad(params.get(n));
            if (g != null) for (float x : g) sq += (double) x * x;
        }
        double norm = Math.sqrt(sq);
        if (!Double.isFinite(norm)) throw new IllegalStateException("gradient norm is " + norm + " at step " + (step + 1));
        float clip = clipNorm > 0 && norm > clipNorm ? (float) (clipNorm / norm) : 1f;
        step++;
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        float lrT = (float) lr;
        for (String n : names) {
            float[] w = params.get(n), g = tape.grad(w), mm = m.get(n), vv = v.get(n);
            if (g == null) continue;
            boolean decay = params.shapes().get(n).length > 1;
            for (int i = 0; i < w.length; i++) {
                float gi = g[i] * clip;
                mm[i] = beta1 * mm[i] + (1 - beta1) * gi;
                vv[i] = beta2 * vv[i] + (1 - beta2) * gi * gi;
                double update = (mm[i] / bc1) / (Math.sqrt(vv[i] / bc2) + eps);
                if (decay) w[i] -= lrT * weightDecay * w[i];
                w[i] -= (float) (lr * update);
            }
        }
        return norm;
    }

    public long steps() {
        return step;
    }
}
