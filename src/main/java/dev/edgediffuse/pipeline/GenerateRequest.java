package dev.edgediffuse.pipeline;

import dev.edgediffuse.nn.FeatureMap;

/**
 * One text-to-image (or image-to-image) job. {@code initLatents} (NCHW [1][4][h/8][w/8], unscaled unit noise as
 * diffusers' {@code latents=} argument) replaces the seeded noise; {@code initImage} with {@code strength} makes it img2img.
 */
public record GenerateRequest(String prompt, String negativePrompt, int steps, float cfg, String scheduler, long seed,
                              int width, int height, float[] initLatents, FeatureMap initImage, float strength) {

    public static GenerateRequest of(String prompt) {
        return new GenerateRequest(prompt, "", 20, 7.5f, "euler_a", 0, 512, 512, null, null, 1f);
    }

    public GenerateRequest withPrompt(String p) {
        return new GenerateRequest(p, negativePrompt, steps, cfg, scheduler, seed, width, height, initLatents, initImage, strength);
    }

    public GenerateRequest withSize(int w, int h) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, scheduler, seed, w, h, initLatents, initImage, strength);
    }

    public GenerateRequest withSteps(int s) {
        return new GenerateRequest(prompt, negativePrompt, s, cfg, scheduler, seed, width, height, initLatents, initImage, strength);
    }

    public GenerateRequest withScheduler(String name) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, name, seed, width, height, initLatents, initImage, strength);
    }

    public GenerateRequest withSeed(long s) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, scheduler, s, width, height, initLatents, initImage, strength);
    }

    public GenerateRequest withCfg(float c) {
        return new GenerateRequest(prompt, negativePrompt, steps, c, scheduler, seed, width, height, initLatents, initImage, strength);
    }

    public GenerateRequest withNegativePrompt(String n) {
        return new GenerateRequest(prompt, n, steps, cfg, scheduler, seed, width, height, initLatents, initImage, strength);
    }

    public GenerateRequest withInitLatents(float[] l) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, scheduler, seed, width, height, l, initImage, strength);
    }

    public GenerateRequest withInitImage(FeatureMap img, float s) {
        return new GenerateRequest(prompt, negativePrompt, steps, cfg, scheduler, seed, width, height, initLatents, img, s);
    }

    /** Checks every field; the message names the option at fault. */
    public void validate() {
        if (prompt == null) throw new IllegalArgumentException("--prompt is required");
        if (steps <= 0) throw new IllegalArgumentException("--steps must be > 0, got " + steps);
        if (steps > 1000) throw new IllegalArgumentException("--steps must be <= 1000, got " + steps);
        if (!Float.isFinite(cfg) || cfg < 0) throw new IllegalArgumentException("--cfg must be a finite number >= 0, got " + cfg);
        if (width <= 0 || width % 8 != 0) throw new IllegalArgumentException("--width must be a positive multiple of 8, got " + width);
        if (height <= 0 || height % 8 != 0) throw new IllegalArgumentException("--height must be a positive multiple of 8, got " + height);
        if (initImage != null && !(strength > 0 && strength <= 1)) {
            throw new IllegalArgumentException("--strength must be in (0, 1], got " + strength);
        }
        if (initLatents != null) {
            for (float v : initLatents) {
                if (!Float.isFinite(v)) throw new IllegalArgumentException("--init-latents contains NaN or infinite values");
            }
        }
    }

    /** The settings in the "parameters" text convention other SD tools read. */
    public String parametersText(String modelName) {
        StringBuilder b = new StringBuilder(prompt);
        if (negativePrompt != null && !negativePrompt.isEmpty()) b.append("\nNegative prompt: ").append(negativePrompt);
        b.append("\nSteps: ").append(steps).append(", Sampler: ").append(scheduler).append(", CFG scale: ").append(cfg)
                .append(", Seed: ").append(seed).append(", Size: ").append(width).append('x').append(height)
                .append(", Model: ").append(modelName);
        if (initImage != null) b.append(", Denoising strength: ").append(strength);
        return b.toString();
    }
}
