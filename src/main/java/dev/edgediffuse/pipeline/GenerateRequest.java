package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * One text-to-image (or image-to-image) job. {@code initLatents} (NCHW [1][4][h/8][w/8], unscaled unit noise as
 * diffusers' {@code latents=} argument) replaces the seeded noise; {@code initImage} with {@code strength} makes it img2img.
 * Guidance applies only at steps whose timestep is at most {@code cfgMaxTimestep} (of the 1000 training timesteps);
 * above it the conditional prediction alone is used and the unconditional UNet row is not computed. Guidance at high
 * noise mostly narrows the variety of images (Kynkäänniemi et al. 2024, "guidance in a limited interval").
 * {@code speedUps} (never null; {@link SpeedUps#NONE} for none) are the training-free accelerations: token merging
 * and DeepCache.
 */
public record GenerateRequest(String prompt, String negativePrompt, int steps, float cfg, int cfgMaxTimestep, String scheduler,
                              long seed, int width, int height, float[] initLatents, FeatureMap initImage, float strength,
                              SpeedUps speedUps) {
    /** The most denoising steps a request may have (a schedule of 1,000 training timesteps has no more). */
    public static final int MAX_STEPS = 1000;

    /** The largest width or height any path accepts (a server may set a smaller one); 4x SD1.5's native size. */
    public static final int MAX_SIDE = 2048;

    public GenerateRequest {
        if (speedUps == null) speedUps = SpeedUps.NONE;
    }

    /** A request without speed-ups. */
    public GenerateRequest(String prompt, String negativePrompt, int steps, float cfg, int cfgMaxTimestep, String scheduler,
                           long seed, int width, int height, float[] initLatents, FeatureMap initImage, float strength) {
        this(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, seed, width, height, initLatents, initImage, strength, SpeedUps.NONE);
    }

    /** {@link #cfgMaxTimestep} that guides every step. */
    public static final int ALL_TIMESTEPS = SamplingDefaults.ALL_TIMESTEPS;

    public static GenerateRequest of(String prompt) {
        return new GenerateRequest(prompt, "", 20, 7.5f, ALL_TIMESTEPS, "euler_a", 0, 512, 512, null, null, 1f);
    }

    /** Whether any step computes the unconditional prediction (and so the prompt needs the negative row). */
    public boolean guided() {
        return cfg > 1f;
    }

    /** Prompt-embedding rows the request needs: [negative, prompt] with guidance, else [prompt]. */
    public int contextRows() {
        return guided() ? 2 : 1;
    }

    /** Whether the step at {@code timestep} is guided. */
    public boolean guidedAt(float timestep) {
        return guided() && timestep <= cfgMaxTimestep;
    }

    public GenerateRequest withCfgMaxTimestep(int t) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, t, scheduler, seed, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withPrompt(String p) {
        return new GenerateRequest(p, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, seed, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withSize(int w, int h) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, seed, w, h, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withSteps(int s) {
        return new GenerateRequest(prompt, negativePrompt, s, cfg, cfgMaxTimestep, scheduler, seed, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withScheduler(String name) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, name, seed, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withSeed(long s) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, s, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withCfg(float c) {
        return new GenerateRequest(prompt, negativePrompt, steps, c, cfgMaxTimestep, scheduler, seed, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withNegativePrompt(String n) {
        return new GenerateRequest(prompt, n, steps, cfg, cfgMaxTimestep, scheduler, seed, width, height, initLatents, initImage, strength, speedUps);
    }

    public GenerateRequest withInitLatents(float[] l) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, seed, width, height, l, initImage, strength, speedUps);
    }

    public GenerateRequest withInitImage(FeatureMap img, float s) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, seed, width, height, initLatents, img, s, speedUps);
    }

    public GenerateRequest withSpeedUps(SpeedUps s) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, cfgMaxTimestep, scheduler, seed, width, height, initLatents, initImage, strength, s);
    }

    /** Checks every field; the message names the option at fault. */
    public void validate() {
        if (prompt == null) throw new IllegalArgumentException("--prompt is required");
        if (steps <= 0) throw new IllegalArgumentException("--steps must be > 0, got " + steps);
        if (steps > MAX_STEPS) throw new IllegalArgumentException("--steps must be <= " + MAX_STEPS + ", got " + steps);
        if (!Float.isFinite(cfg) || cfg < 0) throw new IllegalArgumentException("--cfg must be a finite number >= 0, got " + cfg);
        if (cfgMaxTimestep < 0 || cfgMaxTimestep > ALL_TIMESTEPS) {
            throw new IllegalArgumentException("--cfg-max-timestep must be in [0, 1000], got " + cfgMaxTimestep);
        }
        checkSide("--width", width);
        checkSide("--height", height);
        if (initImage != null && !(strength > 0 && strength <= 1)) {
            throw new IllegalArgumentException("--strength must be in (0, 1], got " + strength);
        }
        if (initLatents != null) {
            for (float v : initLatents) {
                if (!Float.isFinite(v)) throw new IllegalArgumentException("--init-latents contains NaN or infinite values");
            }
        }
        speedUps.validate(steps, scheduler);
    }

    /** A width or height: a multiple of 8 in 8..{@link #MAX_SIDE}. */
    public static void checkSide(String option, int v) {
        if (v <= 0 || v > MAX_SIDE || v % 8 != 0) {
            throw new IllegalArgumentException(option + " must be a multiple of 8 in 8.." + MAX_SIDE + ", got " + v);
        }
    }

    /**
     * The settings in the "parameters" text convention other SD tools read: the prompt, "Negative prompt: ...", then one
     * line of settings. Each value is kept to its line (see {@link #oneLine}), so a prompt cannot forge a settings line.
     */
    public String parametersText(String modelName) {
        StringBuilder b = new StringBuilder(oneLine(prompt));
        if (negativePrompt != null && !negativePrompt.isEmpty()) b.append("\nNegative prompt: ").append(oneLine(negativePrompt));
        b.append("\nSteps: ").append(steps).append(", Sampler: ").append(scheduler).append(", CFG scale: ").append(cfg)
                .append(cfgMaxTimestep < ALL_TIMESTEPS ? ", CFG max timestep: " + cfgMaxTimestep : "")
                .append(", Seed: ").append(seed).append(", Size: ").append(width).append('x').append(height)
                .append(", Model: ").append(oneLine(modelName));
        if (initImage != null) b.append(", Denoising strength: ").append(strength);
        return b.append(speedUps.parametersText()).toString();
    }

    /**
     * A value on one line: line breaks become the two characters \n (\r likewise) and other control characters
     * \\uXXXX, as JSON would write them; backslashes stay as typed (prompt syntax such as \\( uses them).
     */
    static String oneLine(String text) {
        StringBuilder b = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String r = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c < 0x20 && c != '\t' || c == 0x7f ? String.format("\\u%04x", (int) c) : null;
            if (r != null && b == null) b = new StringBuilder(text.length() + 8).append(text, 0, i);
            if (b != null) {
                if (r != null) b.append(r);
                else b.append(c);
            }
        }
        return b == null ? text : b.toString();
    }
}
