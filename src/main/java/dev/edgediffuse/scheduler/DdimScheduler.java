package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

/**
 * DDIM with η = 0 (deterministic). Defaults as diffusers' DDIMScheduler: leading spacing, set_alpha_to_one true,
 * clip_sample true (the Stable Diffusion pipeline turns clipping off; {@link Schedulers#create} does too). The
 * previous timestep is always t − num_train_timesteps / steps, whatever the spacing.
 */
public final class DdimScheduler extends BaseScheduler {
    private final String spacing;
    private final float finalAlphaCumprod;
    private final boolean clipSample;
    private final float clipRange;
    private int stepRatio;

    public DdimScheduler(Config config) {
        this(NoiseSchedule.of(config));
    }

    public DdimScheduler(NoiseSchedule schedule) {
        super("ddim", schedule);
        Config c = schedule.config();
        this.spacing = schedule.timestepSpacing("leading");
        this.finalAlphaCumprod = c.getBool("set_alpha_to_one", true) ? 1f : schedule.alphaCumprod(0);
        this.clipSample = c.getBool("clip_sample", true);
        this.clipRange = (float) c.getDouble("clip_sample_range", 1.0);
    }

    @Override
    public void setTimesteps(int steps) {
        Spacing.checkSteps(schedule, steps);
        double[] ts = Spacing.standard(schedule, spacing, steps, true);
        timesteps = new float[steps];
        for (int i = 0; i < steps; i++) timesteps[i] = (float) ts[i];
        stepRatio = schedule.numTrainTimesteps() / steps;
        nextStep = 0;
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        checkIndex(stepIndex);
        checkSameLength(modelOutput, sample);
        int t = (int) timesteps[stepIndex];
        int prev = t - stepRatio;
        float a = schedule.alphaCumprod(t);
        float aPrev = prev >= 0 ? schedule.alphaCumprod(prev) : finalAlphaCumprod;
        float sa = (float) Math.sqrt(a), sb = (float) Math.sqrt(1f - a);
        float saPrev = (float) Math.sqrt(aPrev), sbPrev = (float) Math.sqrt(1f - aPrev);
        float[] out = new float[sample.length];
        for (int i = 0; i < out.length; i++) {
            float x = sample[i], m = modelOutput[i], x0, eps;
            if (prediction == PredictionType.EPSILON) {
                x0 = (x - sb * m) / sa;
                eps = m;
            } else {
                x0 = sa * x - sb * m;
                eps = sa * m + sb * x;
            }
            if (clipSample) x0 = Math.min(Math.max(x0, -clipRange), clipRange);
            out[i] = saPrev * x0 + sbPrev * eps;
        }
        nextStep = stepIndex + 1;
        return out;
    }

    @Override
    public float[] addNoise(float[] x0, float[] noise, int stepIndex) {
        checkIndex(stepIndex);
        checkSameLength(x0, noise);
        return AlphaNoise.add(schedule.alphaCumprod((int) timesteps[stepIndex]), x0, noise);
    }
}
