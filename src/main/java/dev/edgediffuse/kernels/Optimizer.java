package dev.edgediffuse.kernels;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The optimizer's element-wise loops. Each lane does the scalar loop's operations in its order (float moments, the
 * bias-corrected step in double), so vectorizing changes no bit of a training run: recipes reproduce their models.
 */
public final class Optimizer {
    /** Floats of the block width; each half of a vector of them widens into one of doubles. */
    private static final VectorSpecies<Float> F = VectorWidth.BLOCK_FLOAT;
    private static final VectorSpecies<Double> D = VectorWidth.BLOCK_DOUBLE;
    /** The upper half of the lanes of F. */
    private static final VectorMask<Float> UPPER = F.indexInRange(-F.length() / 2, F.length() / 2);

    private Optimizer() {}

    /**
     * One AdamW step's constants: the gradient's clip factor, the betas, the bias corrections 1 − βᵗ, ε, the learning
     * rate, whether these parameters decay and lr·weight decay (as a float, the scalar loop's product).
     */
    public record AdamWStep(float clip, float beta1, float beta2, double bc1, double bc2, float eps, double lr, boolean decay,
                            float lrDecay) {}

    /**
     * AdamW over elements [from, to): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − lr·wd·w − lr·(m/bc1)/(√(v/bc2)+ε).
     * An element whose gradient and moments are all 0 (a token-table row no caption has used) only decays.
     */
    public static void adamW(float[] w, float[] g, float[] m, float[] v, int from, int to, AdamWStep s) {
        float oneMinusBeta1 = 1 - s.beta1(), oneMinusBeta2 = 1 - s.beta2();
        double eps = s.eps();
        int i = from;
        for (int end = from + F.loopBound(to - from); i < end; i += F.length()) {
            FloatVector gi = FloatVector.fromArray(F, g, i).mul(s.clip());
            FloatVector mi = FloatVector.fromArray(F, m, i), vi = FloatVector.fromArray(F, v, i), wi = FloatVector.fromArray(F, w, i);
            VectorMask<Float> idle = gi.compare(VectorOperators.EQ, 0f).and(mi.compare(VectorOperators.EQ, 0f))
                    .and(vi.compare(VectorOperators.EQ, 0f));
            FloatVector decayed = s.decay() ? wi.sub(wi.mul(s.lrDecay())) : wi;
            if (idle.allTrue()) {
                if (s.decay()) decayed.intoArray(w, i);
                continue;
            }
            FloatVector mNew = mi.mul(s.beta1()).add(gi.mul(oneMinusBeta1));
            FloatVector vNew = vi.mul(s.beta2()).add(gi.mul(oneMinusBeta2).mul(gi));
            FloatVector step = step(mNew, vNew, 0, s, eps).blend(step(mNew, vNew, 1, s, eps), UPPER);
            mi.blend(mNew, idle.not()).intoArray(m, i);
            vi.blend(vNew, idle.not()).intoArray(v, i);
            decayed.blend(decayed.sub(step), idle.not()).intoArray(w, i);
        }
        for (; i < to; i++) {
            float gi = g[i] * s.clip();
            if (gi == 0 && m[i] == 0 && v[i] == 0) {
                if (s.decay()) w[i] -= s.lrDecay() * w[i];
                continue;
            }
            m[i] = s.beta1() * m[i] + oneMinusBeta1 * gi;
            v[i] = s.beta2() * v[i] + oneMinusBeta2 * gi * gi;
            double update = (m[i] / s.bc1()) / (Math.sqrt(v[i] / s.bc2()) + eps);
            if (s.decay()) w[i] -= s.lrDecay() * w[i];
            w[i] -= (float) (s.lr() * update);
        }
    }

    /** lr·(m/bc1)/(√(v/bc2)+ε) in double for half {@code part} of the lanes, returned in those lanes (the others 0). */
    private static FloatVector step(FloatVector m, FloatVector v, int part, AdamWStep s, double eps) {
        DoubleVector md = (DoubleVector) m.convertShape(VectorOperators.F2D, D, part);
        DoubleVector vd = (DoubleVector) v.convertShape(VectorOperators.F2D, D, part);
        DoubleVector update = md.div(s.bc1()).div(vd.div(s.bc2()).sqrt().add(eps)).mul(s.lr());
        return (FloatVector) update.convertShape(VectorOperators.D2F, F, -part);
    }

    /**
     * Σ x² in double, element after element from {@code sum}: the same additions as the plain loop, in its order, so
     * the clip factor, and with it the run, keeps every bit. Blocks of 8 zeros (unused token-table rows) add +0.0,
     * which changes no sum, and are skipped.
     */
    public static double sumOfSquares(float[] x, double sum) {
        int i = 0;
        for (int end = VectorWidth.blockEnd(0, x.length); i < end; i += VectorWidth.BLOCK) {
            if (zeros(x, i)) continue;
            for (int j = i; j < i + VectorWidth.BLOCK; j++) sum += (double) x[j] * x[j];
        }
        for (; i < x.length; i++) sum += (double) x[i] * x[i];
        return sum;
    }

    /** Whether the block x[i..i+8) is all zeros. */
    private static boolean zeros(float[] x, int i) {
        for (int j = i; j < i + VectorWidth.BLOCK; j += F.length()) {
            if (FloatVector.fromArray(F, x, j).compare(VectorOperators.NE, 0f).anyTrue()) return false;
        }
        return true;
    }
}
