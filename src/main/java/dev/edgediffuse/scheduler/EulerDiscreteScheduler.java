package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

/**
 * Euler (k-diffusion's sample_euler without churn) in σ space. Defaults as diffusers' EulerDiscreteScheduler:
 * linspace spacing with fractional timesteps, σ linearly interpolated at them, final σ = 0. Note diffusers' quirk
 * kept here: with linspace spacing a single step runs at t = 0 (σ ≈ 0.029), and then initNoiseSigma is that σ.
 * use_karras_sigmas from the config selects the Karras spacing (timesteps mapped back, unrounded).
 */
public class EulerDiscreteScheduler extends BaseScheduler {
    protected final String spacing;
    protected final boolean karras;
    protected float[] sigmas;

    public EulerDiscreteScheduler(Config config) {
        this("euler", NoiseSchedule.of(config), config.getBool("use_karras_sigmas", false));
    }

    protected EulerDiscreteScheduler(String name, NoiseSchedule schedule, boolean karras) {
        super(name, schedule);
        this.spacing = schedule.timestepSpacing("linspace");
        this.karras = karras;
    }

    @Override
    public void setTimesteps(int steps) {
        Spacing.checkSteps(schedule, steps);
        double[] ts = Spacing.standard(schedule, spacing, steps, false);
        double[] sig = new double[steps];
        for (int i = 0; i < steps; i++) sig[i] = schedule.interpSigma(ts[i]);
        if (karras) {
            sig = NoiseSchedule.karrasSigmas(sig[steps - 1], sig[0], steps);
            for (int i = 0; i < steps; i++) ts[i] = schedule.sigmaToT(sig[i]);
        }
        timesteps = new float[steps];
        sigmas = new float[steps + 1];
        for (int i = 0; i < steps; i++) {
            timesteps[i] = (float) ts[i];
            sigmas[i] = (float) sig[i];
        }
        sigmas[steps] = 0f;
        nextStep = 0;
    }

    /** σ per step, plus the final 0. */
    public float[] sigmas() {
        requireTimesteps();
        return sigmas.clone();
    }

    @Override
    public float initNoiseSigma() {
        requireTimesteps();
        float max = 0;
        for (float s : sigmas) max = Math.max(max, s);
        if (spacing.equals("linspace") || spacing.equals("trailing")) return max;
        return (float) Math.sqrt(max * max + 1f);
    }

    @Override
    public float[] scaleModelInput(float[] latents, int stepIndex) {
        checkIndex(stepIndex);
        float s = sigmas[stepIndex];
        float scale = (float) Math.sqrt(s * s + 1f);
        float[] out = new float[latents.length];
        for (int i = 0; i < out.length; i++) out[i] = latents[i] / scale;
        return out;
    }

    /** The denoised estimate x₀ from the model output at σ. */
    protected float[] predictX0(float[] modelOutput, float[] sample, float sigma) {
        float[] x0 = new float[sample.length];
        if (prediction == PredictionType.EPSILON) {
            for (int i = 0; i < x0.length; i++) x0[i] = sample[i] - sigma * modelOutput[i];
        } else {
            float c = sigma * sigma + 1f;
            float cOut = -sigma / (float) Math.sqrt(c);
            for (int i = 0; i < x0.length; i++) x0[i] = modelOutput[i] * cOut + sample[i] / c;
        }
        return x0;
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        checkIndex(stepIndex);
        checkSameLength(modelOutput, sample);
        float sigma = sigmas[stepIndex];
        float[] x0 = predictX0(modelOutput, sample, sigma);
        float dt = sigmas[stepIndex + 1] - sigma;
        float[] out = new float[sample.length];
        for (int i = 0; i < out.length; i++) {
            float d = (sample[i] - x0[i]) / sigma;
            out[i] = sample[i] + d * dt;
        }
        nextStep = stepIndex + 1;
        return out;
    }

    @Override
    public float[] addNoise(float[] x0, float[] noise, int stepIndex) {
        checkIndex(stepIndex);
        checkSameLength(x0, noise);
        float s = sigmas[stepIndex];
        float[] out = new float[x0.length];
        for (int i = 0; i < out.length; i++) out[i] = x0[i] + noise[i] * s;
        return out;
    }
}
