package dev.edgediffuse.scheduler;

import java.util.Random;

/**
 * Supplies the fresh standard-normal noise that stochastic steps (Euler ancestral, LCM) add. The scheduler asks for
 * exactly one buffer per step that needs it, in step order, so an implementation that replays a recorded or
 * torch-compatible stream reproduces a reference run.
 */
@FunctionalInterface
public interface NoiseSource {
    /** Fills {@code out} with independent N(0, 1) samples for step {@code stepIndex}. */
    void fill(float[] out, int stepIndex);

    /** For deterministic schedulers: any request is a programming error. */
    static NoiseSource none() {
        return (out, stepIndex) -> {
            throw new IllegalStateException("this scheduler needs per-step noise at step " + stepIndex
                    + " but was given NoiseSource.none()");
        };
    }

    /** A seeded java.util.Random stream (not torch-compatible; for tools and tests). */
    static NoiseSource seeded(long seed) {
        Random r = new Random(seed);
        return (out, stepIndex) -> {
            for (int i = 0; i < out.length; i++) out[i] = (float) r.nextGaussian();
        };
    }
}
