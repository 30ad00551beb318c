package dev.edgediffuse.server;

import dev.edgediffuse.pipeline.GenerateRequest;

/** What one request may ask for; anything beyond is a 400 (or 413 for the body) naming the field. */
public record Limits(int maxSide, int maxSteps, int maxPromptChars, int maxBodyBytes, int maxImages) {
    public static final Limits DEFAULT = new Limits(1024, 150, 2000, 64 * 1024, 4);

    void check(GenerateRequest r) {
        if (r.prompt() == null || r.prompt().isBlank()) throw ApiError.badRequest("prompt is required");
        if (r.prompt().length() > maxPromptChars) {
            throw ApiError.badRequest("prompt is " + r.prompt().length() + " characters; the limit is " + maxPromptChars);
        }
        if (r.negativePrompt() != null && r.negativePrompt().length() > maxPromptChars) {
            throw ApiError.badRequest("negative_prompt is " + r.negativePrompt().length() + " characters; the limit is " + maxPromptChars);
        }
        if (r.steps() < 1 || r.steps() > maxSteps) throw ApiError.badRequest("steps must be in 1.." + maxSteps + ", got " + r.steps());
        side("width", r.width());
        side("height", r.height());
        if (!Float.isFinite(r.cfg()) || r.cfg() < 0 || r.cfg() > 50) {
            throw ApiError.badRequest("cfg_scale must be a number in [0, 50], got " + r.cfg());
        }
        if (r.cfgMaxTimestep() < 0 || r.cfgMaxTimestep() > GenerateRequest.ALL_TIMESTEPS) {
            throw ApiError.badRequest("cfg_max_timestep must be in 0..1000, got " + r.cfgMaxTimestep());
        }
        if (!dev.edgediffuse.scheduler.Schedulers.NAMES.contains(r.scheduler())) {
            throw ApiError.badRequest("unknown scheduler '" + r.scheduler() + "'; valid: "
                    + String.join(", ", dev.edgediffuse.scheduler.Schedulers.NAMES));
        }
    }

    private void side(String name, int v) {
        if (v < 8 || v > maxSide || v % 8 != 0) {
            throw ApiError.badRequest(name + " must be a multiple of 8 in 8.." + maxSide + ", got " + v);
        }
    }
}
