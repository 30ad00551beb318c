package dev.edgediffuse.scheduler;

/**
 * A diffusion sampler with diffusers semantics. Usage for one image:
 * <pre>
 *   s.setTimesteps(steps);
 *   x = noise × s.initNoiseSigma();                       // txt2img
 *   // or img2img: k = s.startIndexForStrength(strength); x = s.addNoise(x0, noise, k); loop from k
 *   for (int i = start; i &lt; s.numSteps(); i++) {
 *       float[] in = s.scaleModelInput(x, i);
 *       float[] out = unet(in, s.timesteps()[i]);         // with CFG applied
 *       x = s.step(out, i, x, noiseSource);
 *   }
 * </pre>
 * Arrays are flat latents (any layout; the math is element-wise). No method modifies its array arguments.
 */
public interface Scheduler {
    /** The factory name (ddim, euler, ...). */
    String name();

    NoiseSchedule schedule();

    /** Builds the inference schedule for {@code steps} steps and clears any step history. */
    void setTimesteps(int steps);

    int numSteps();

    /** The timestep value to pass to the UNet at each step (fractional for Euler-family schedules). */
    float[] timesteps();

    /** Standard deviation of the initial latent noise for txt2img. */
    float initNoiseSigma();

    /** The model input for step {@code stepIndex} (a new array; Euler divides by √(σ²+1), others copy). */
    float[] scaleModelInput(float[] latents, int stepIndex);

    /** One step: the sample for step {@code stepIndex + 1} (a new array). */
    float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise);

    /** img2img: the first step index to run for {@code strength} ∈ [0, 1], as the diffusers img2img pipeline. */
    default int startIndexForStrength(double strength) {
        if (!(strength >= 0 && strength <= 1)) throw new IllegalArgumentException("strength must be in [0, 1]: " + strength);
        int n = numSteps();
        int init = Math.min((int) (n * strength), n);
        return Math.max(n - init, 0);
    }

    /** Forward diffusion of clean latents {@code x0} to the noise level of step {@code stepIndex} (a new array). */
    float[] addNoise(float[] x0, float[] noise, int stepIndex);

    /** A copy of the carried state (for hybrid continuation). */
    SchedulerState state();

    /** Restores a state taken from a scheduler of the same kind and configuration. */
    void restore(SchedulerState state);
}
