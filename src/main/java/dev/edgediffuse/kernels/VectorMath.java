package dev.edgediffuse.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transcendentals built from IEEE add/mul/fma only. The Vector API's own EXP gives different last bits in the
 * interpreter and in compiled code, which made the same seed produce different images from run to run; these give
 * the same bits at every JIT tier.
 */
final class VectorMath {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
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
        FloatVector r = k.fma(broadcast(-LN2_HI), x);
        r = k.fma(broadcast(-LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, broadcast(8.3334519073e-3f));
        p = p.fma(r, broadcast(4.1665795894e-2f));
        p = p.fma(r, broadcast(1.6666665459e-1f));
        p = p.fma(r, broadcast(5.0000001201e-1f));
        p = p.mul(r.mul(r)).add(r).add(1f);
        FloatVector scale = ki.add(127).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scale);
    }

    private static FloatVector broadcast(float v) {
        return FloatVector.broadcast(S, v);
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
        t = broadcast(1f).div(t);
        FloatVector poly = t.fma(1.061405429f, -1.453152027f);
        poly = poly.fma(t, broadcast(1.421413741f));
        poly = poly.fma(t, broadcast(-0.284496736f));
        poly = poly.fma(t, broadcast(0.254829592f));
        poly = poly.mul(t);
        FloatVector erfAbs = broadcast(1f).sub(poly.mul(exp(az.mul(az).neg())));
        FloatVector erf = erfAbs.blend(erfAbs.neg(), z.compare(jdk.incubator.vector.VectorOperators.LT, 0f));
        return erf.add(1f).mul(0.5f);
    }

    /** d/dx of x·σ(x): σ(x)·(1 + x·(1 − σ(x))). */
    static FloatVector siluSlope(FloatVector x) {
        FloatVector s = sigmoid(x);
        return s.mul(x.mul(broadcast(1f).sub(s)).add(1f));
    }

    /** σ(x) = 1/(1 + e^−x). */
    static FloatVector sigmoid(FloatVector x) {
        return broadcast(1f).div(exp(x.neg()).add(1f));
    }

    /** x·sigmoid(x). */
    static FloatVector silu(FloatVector x) {
        return x.div(exp(x.neg()).add(1f));
    }

    /** The lanes of v added in a fixed order (reduceLanes may reorder between JIT tiers). */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }
}
