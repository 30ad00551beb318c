package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

/**
 * Latent Consistency Model multistep sampling (diffusers' LCMScheduler): timesteps picked from the
 * original_inference_steps (50) distillation grid, the consistency boundary condition
 * denoised = c_out·x₀ + c_skip·x with c_skip = σ_d²/((10t)² + σ_d²), c_out = 10t/√((10t)² + σ_d²), σ_d = 0.5
 * (10 = timestep_scaling), then re-noising to the next timestep with fresh noise on every step but the last, which
 * returns the denoised latents.
 */
public final class LcmScheduler extends BaseScheduler {
    private final int originalSteps;
    private final float timestepScaling;
    private final float finalAlphaCumprod;
    private final boolean clipSample;
    private final float clipRange;

    public LcmScheduler(Config config) {
        super("lcm", NoiseSchedule.of(config));
        this.originalSteps = config.getInt("original_inference_steps", 50);
        this.timestepScaling = (float) config.getDouble("timestep_scaling", 10.0);
        this.finalAlphaCumprod = config.getBool("set_alpha_to_one", true) ? 1f : schedule.alphaCumprod(0);
        this.clipSample = config.getBool("clip_sample", false);
        this.clipRange = (float) config.getDouble("clip_sample_range", 1.0);
    }

    @Override
    public void setTimesteps(int steps) {
        setTimesteps(steps, 1.0);
    }

    /**
     * The schedule the diffusers LCM img2img pipeline builds: the distillation grid cut to its first
     * int(original_inference_steps × strength) entries before picking {@code steps} of them (that pipeline then
     * also skips {@link #startIndexForStrength} steps).
     */
    public void setTimesteps(int steps, double strength) {
        int train = schedule.numTrainTimesteps();
        if (originalSteps > train) throw new IllegalArgumentException("original_inference_steps " + originalSteps + " > " + train);
        if (steps < 1) throw new IllegalArgumentException("steps must be at least 1: " + steps);
        if (steps > originalSteps) {
            throw new IllegalArgumentException("LCM steps " + steps + " cannot exceed original_inference_steps " + originalSteps);
        }
        int k = train / originalSteps;
        int count = (int) (originalSteps * strength);
        if (count / steps < 1) {
            throw new IllegalArgumentException("original_inference_steps × strength = " + count + " is smaller than steps " + steps);
        }
        int[] grid = new int[count]; // descending
        for (int j = 0; j < count; j++) grid[j] = (count - j) * k - 1;
        timesteps = new float[steps];
        double stepSize = count / (double) steps;
        for (int i = 0; i < steps; i++) timesteps[i] = grid[(int) Math.floor(i * stepSize)];
        nextStep = 0;
    }

    /**
     * The schedule for continuing latents that another sampler brought to {@code timestep} (a teacher's first steps in
     * a hybrid run): {@code steps} timesteps picked, as above, from the distillation grid's points up to and including
     * the largest one not above {@code timestep}.
     */
    public void setTimestepsFrom(int steps, int timestep) {
        int k = schedule.numTrainTimesteps() / originalSteps;
        int count = Math.min(originalSteps, (timestep + 1) / k);
        if (count < steps) {
            throw new IllegalArgumentException("LCM from timestep " + timestep + " has " + count + " grid points, fewer than " + steps + " steps");
        }
        setTimesteps(steps, count / (double) originalSteps);
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        checkIndex(stepIndex);
        checkSameLength(modelOutput, sample);
        int n = timesteps.length;
        int t = (int) timesteps[stepIndex];
        int prev = stepIndex + 1 < n ? (int) timesteps[stepIndex + 1] : t;
        float a = schedule.alphaCumprod(t);
        float aPrev = prev >= 0 ? schedule.alphaCumprod(prev) : finalAlphaCumprod;
        float sa = (float) Math.sqrt(a), sb = (float) Math.sqrt(1f - a);

        float scaled = t * timestepScaling;
        float sd2 = 0.25f;
        float cSkip = sd2 / (scaled * scaled + sd2);
        float cOut = scaled / (float) Math.sqrt(scaled * scaled + sd2);

        float[] denoised = new float[sample.length];
        for (int i = 0; i < denoised.length; i++) {
            float x0 = prediction == PredictionType.EPSILON
                    ? (sample[i] - sb * modelOutput[i]) / sa
                    : sa * sample[i] - sb * modelOutput[i];
            if (clipSample) x0 = Math.min(Math.max(x0, -clipRange), clipRange);
            denoised[i] = cOut * x0 + cSkip * sample[i];
        }
        nextStep = stepIndex + 1;
        if (stepIndex == n - 1) return denoised;
        float[] z = draw(noise, sample.length, stepIndex);
        float saPrev = (float) Math.sqrt(aPrev), sbPrev = (float) Math.sqrt(1f - aPrev);
        float[] out = new float[sample.length];
        for (int i = 0; i < out.length; i++) out[i] = saPrev * denoised[i] + sbPrev * z[i];
        return out;
    }

    @Override
    public float[] addNoise(float[] x0, float[] noise, int stepIndex) {
        checkIndex(stepIndex);
        checkSameLength(x0, noise);
        return AlphaNoise.add(schedule.alphaCumprod((int) timesteps[stepIndex]), x0, noise);
    }
}
