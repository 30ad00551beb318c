package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.kernels.Optimizer;
import dev.edgediffuse.kernels.Parallel;

import java.util.List;

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping. Weight decay skips
 * vectors (biases, norm scales), as is usual for transformers and diffusion UNets.
 */
public final class AdamW {
    private final Parameters params;
    final Parameters m, v;
    private final float beta1, beta2, eps, weightDecay, clipNorm;
    private final List<Chunk> chunks;
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
        this.chunks = Chunk.split(params);
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
            if (g != null) sq = Optimizer.sumOfSquares(g, sq);
        }
        double norm = Math.sqrt(sq);
        if (!Double.isFinite(norm)) throw new IllegalStateException("gradient norm is " + norm + " at step " + (step + 1));
        float clip = clipNorm > 0 && norm > clipNorm ? (float) (clipNorm / norm) : 1f;
        step++;
        float lrT = (float) lr;
        Optimizer.AdamWStep matrices = constants(clip, lr, true, lrT * weightDecay), vectors = constants(clip, lr, false, 0f);
        float[][] w = new float[names.size()][], g = new float[names.size()][], mm = new float[names.size()][], vv = new float[names.size()][];
        Optimizer.AdamWStep[] rule = new Optimizer.AdamWStep[names.size()];
        for (int a = 0; a < names.size(); a++) {
            String n = names.get(a);
            w[a] = params.get(n);
            g[a] = tape.grad(w[a]);
            mm[a] = m.get(n);
            vv[a] = v.get(n);
            rule[a] = params.shapes().get(n).length > 1 ? matrices : vectors;
        }
        // element-wise, so splitting the arrays into chunks over the threads gives the serial loop's results exactly
        Parallel.forEach(chunks.size(), c -> {
            Chunk ch = chunks.get(c);
            int a = ch.array();
            if (g[a] == null) return;
            Optimizer.adamW(w[a], g[a], mm[a], vv[a], ch.from(), ch.to(), rule[a]);
        });
        return norm;
    }

    private Optimizer.AdamWStep constants(float clip, double lr, boolean decays, float lrDecay) {
        return new Optimizer.AdamWStep(clip, beta1, beta2, 1 - Math.pow(beta1, step), 1 - Math.pow(beta2, step), eps, lr, decays, lrDecay);
    }

    public long steps() {
        return step;
    }
}
