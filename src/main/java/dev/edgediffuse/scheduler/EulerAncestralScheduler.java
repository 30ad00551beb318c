package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

/**
 * Euler ancestral (k-diffusion's sample_euler_ancestral, η = 1): an Euler step down to σ_down, then fresh noise
 * scaled by σ_up. Like diffusers it draws noise on every step, the last included (where σ_up = 0).
 */
public final class EulerAncestralScheduler extends EulerDiscreteScheduler {
    public EulerAncestralScheduler(Config config) {
        super("euler_a", NoiseSchedule.of(config), false);
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        checkIndex(stepIndex);
        checkSameLength(modelOutput, sample);
        float from = sigmas[stepIndex], to = sigmas[stepIndex + 1];
        float[] x0 = predictX0(modelOutput, sample, from);
        float up = (float) Math.sqrt(to * to * (from * from - to * to) / (from * from));
        float down = (float) Math.sqrt(to * to - up * up);
        float dt = down - from;
        float[] z = draw(noise, sample.length, stepIndex);
        float[] out = new float[sample.length];
        for (int i = 0; i < out.length; i++) {
            float d = (sample[i] - x0[i]) / from;
            out[i] = sample[i] + d * dt + z[i] * up;
        }
        nextStep = stepIndex + 1;
        return out;
    }
}
