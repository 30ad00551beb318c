package dev.edgediffuse.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;

/**
 * Transcendentals built from IEEE add/mul/fma only. The Vector API's own EXP gives different last bits in the
 * interpreter and in compiled code, which made the same seed produce different images from run to run; these give
 * the same bits at every JIT tier. Each works lane by lane in the species of its argument, so every width gives the
 * same bits.
 */
final class VectorMath {
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5·2^23: adding and subtracting it rounds to an integer

    private VectorMath() {}

    /** e^x, relative error ≈ 2e-7 over [-87, 88]; inputs outside are clamped (0 and +large). */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87.3f).min(88.3f);
        FloatVector shifted = x.fma(LOG2E, ROUND);
        FloatVector k = shifted.sub(ROUND);
        IntVector ki = shifted.reinterpretAsInts().sub(0x4B400000);
        FloatVector r = k.fma(x.broadcast(-LN2_HI), x);
        r = k.fma(x.broadcast(-LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, x.broadcast(8.3334519073e-3f));
        p = p.fma(r, x.broadcast(4.1665795894e-2f));
        p = p.fma(r, x.broadcast(1.6666665459e-1f));
        p = p.fma(r, x.broadcast(5.0000001201e-1f));
        p = p.mul(r.mul(r)).add(r).add(1f);
        FloatVector scale = ki.add(127).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scale);
    }

    /** Exact-form GELU 0.5·x·(1 + erf(x/√2)) = x·Φ(x). */
    static FloatVector gelu(FloatVector x) {
        return x.mul(normalCdf(x));
    }

    /** Φ(x) = 0.5·(1 + erf(x/√2)), erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7). */
    static FloatVector normalCdf(FloatVector x) {
        FloatVector z = x.mul(0.70710678118654752f);
        FloatVector az = z.abs();
        FloatVector t = az.fma(0.3275911f, 1f);
        t = x.broadcast(1f).div(t);
        FloatVector poly = t.fma(1.061405429f, -1.453152027f);
        poly = poly.fma(t, x.broadcast(1.421413741f));
        poly = poly.fma(t, x.broadcast(-0.284496736f));
        poly = poly.fma(t, x.broadcast(0.254829592f));
        poly = poly.mul(t);
        FloatVector erfAbs = x.broadcast(1f).sub(poly.mul(exp(az.mul(az).neg())));
        FloatVector erf = erfAbs.blend(erfAbs.neg(), z.compare(jdk.incubator.vector.VectorOperators.LT, 0f));
        return erf.add(1f).mul(0.5f);
    }

    /** d/dx of x·σ(x): σ(x)·(1 + x·(1 − σ(x))). */
    static FloatVector siluSlope(FloatVector x) {
        FloatVector s = sigmoid(x);
        return s.mul(x.mul(x.broadcast(1f).sub(s)).add(1f));
    }

    /** σ(x) = 1/(1 + e^−x). */
    static FloatVector sigmoid(FloatVector x) {
        return x.broadcast(1f).div(exp(x.neg()).add(1f));
    }

    /** x·sigmoid(x). */
    static FloatVector silu(FloatVector x) {
        return x.div(exp(x.neg()).add(1f));
    }

    /**
     * The {@link VectorWidth#BLOCK} partial sums of a blocked reduction added in lane order (reduceLanes may reorder
     * between JIT tiers): the lanes of {@code low}, then, where a block takes two vectors, those of {@code high}.
     */
    static float sum(FloatVector low, FloatVector high) {
        float s = 0f;
        for (int i = 0; i < low.length(); i++) s += low.lane(i);
        if (low.length() < VectorWidth.BLOCK) for (int i = 0; i < high.length(); i++) s += high.lane(i);
        return s;
    }
}
