package dev.edgediffuse.autograd;

import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Compares the tape's gradients of L = Σ r·f(θ) (r a fixed random projection) with central finite differences,
 * entry by entry: for every tensor the entry with the largest analytic gradient and a few random ones.
 */
final class GradientCheck {
    private static final double H = 1e-2;

    private final Map<String, float[]> tensors = new LinkedHashMap<>();
    private final Supplier<float[]> forward;
    private int randomPerTensor = 2;
    private double tolerance = 1e-2;

    /** n normal values times {@code scale}, reproducible from {@code seed}. */
    static float[] random(int n, long seed, float scale) {
        Rng r = new Rng(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    GradientCheck(Supplier<float[]> forward) {
        this.forward = forward;
    }

    GradientCheck with(String name, float[] values) {
        tensors.put(name, values);
        return this;
    }

    GradientCheck with(Parameters p) {
        for (String n : p.names()) tensors.put(n, p.get(n));
        return this;
    }

    GradientCheck randomPerTensor(int n) {
        randomPerTensor = n;
        return this;
    }

    GradientCheck tolerance(double t) {
        tolerance = t;
        return this;
    }

    /** Runs the check; returns the largest relative error seen (asserted below the tolerance). */
    double run() {
        float[] probe = evaluate();
        Rng rng = new Rng(42);
        float[] r = new float[probe.length];
        for (int i = 0; i < r.length; i++) r[i] = rng.nextGaussian();
        Map<String, float[]> analytic = new LinkedHashMap<>();
        Tape tape = Tape.begin(new ArrayList<>(tensors.values()));
        try {
            float[] y = forward.get();
            tape.backward(y, r);
        } finally {
            tape.close();
        }
        tensors.forEach((n, v) -> {
            float[] g = tape.grad(v);
            analytic.put(n, g == null ? new float[v.length] : g);
        });
        double worst = 0;
        int checked = 0, nonzero = 0;
        List<String> failures = new ArrayList<>();
        for (Map.Entry<String, float[]> e : tensors.entrySet()) {
            float[] v = e.getValue(), g = analytic.get(e.getKey());
            List<Integer> idx = new ArrayList<>();
            int best = 0;
            for (int i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
            idx.add(best);
            for (int k = 0; k < randomPerTensor; k++) idx.add(rng.nextInt(v.length));
            for (int i : idx) {
                float orig = v[i];
                v[i] = (float) (orig + H);
                double plus = dot(r, evaluate());
                v[i] = (float) (orig - H);
                double minus = dot(r, evaluate());
                v[i] = orig;
                double numeric = (plus - minus) / (2 * H);
                double err = Math.abs(numeric - g[i]) / Math.max(1.0, Math.abs(numeric) + Math.abs(g[i]));
                worst = Math.max(worst, err);
                checked++;
                if (Math.abs(g[i]) > 1e-4) nonzero++;
                if (err > tolerance) failures.add(e.getKey() + "[" + i + "]: analytic " + g[i] + " numeric " + numeric);
            }
        }
        if (!failures.isEmpty()) fail(failures.size() + " of " + checked + " gradient entries disagree: " + failures.subList(0, Math.min(5, failures.size())));
        assertTrue(nonzero >= checked / 4, "only " + nonzero + " of " + checked + " checked gradients are nonzero");
        return worst;
    }

    /** f(θ) under a tape that tracks nothing: ops stay out of place (inference would update inputs in place). */
    private float[] evaluate() {
        try (Tape ignored = Tape.begin(List.of())) {
            return forward.get();
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }
}
