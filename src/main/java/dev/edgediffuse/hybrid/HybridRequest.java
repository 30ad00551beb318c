package dev.edgediffuse.hybrid;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.pipeline.GenerateRequest;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The device's ask, POSTed as JSON to {@code /v1/hybrid/denoise}: the whole generation's settings, how many of the
 * steps the server runs ({@code split}), whether to return the prompt embeddings, and a nonce the server echoes.
 * {@code model} may be null for the server's default model.
 */
public record HybridRequest(String model, GenerateRequest generate, int split, boolean wantEmbeddings, String nonce) {
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (model != null) m.put("model", model);
        m.put("prompt", generate.prompt());
        m.put("negative_prompt", generate.negativePrompt() == null ? "" : generate.negativePrompt());
        m.put("seed", generate.seed());
        m.put("width", (long) generate.width());
        m.put("height", (long) generate.height());
        m.put("scheduler", generate.scheduler());
        m.put("cfg_scale", (double) generate.cfg());
        m.put("cfg_max_timestep", generate.cfgMaxTimestep());
        m.put("steps", (long) generate.steps());
        m.put("split", (long) split);
        m.put("return_embeddings", wantEmbeddings);
        m.put("nonce", nonce);
        return Json.write(m);
    }
}
