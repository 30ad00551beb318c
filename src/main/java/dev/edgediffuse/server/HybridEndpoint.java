package dev.edgediffuse.server;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.hybrid.Handoff;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.GenerateRequest;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.List;
import java.util.Set;

/** POST /v1/hybrid/denoise: runs the first {@code split} steps and answers a binary {@link Handoff}. */
final class HybridEndpoint {
    private static final Set<String> FIELDS = Set.of("model", "prompt", "negative_prompt", "seed", "width", "height",
            "scheduler", "cfg_scale", "cfg_max_timestep", "steps", "split", "return_embeddings", "nonce");

    private HybridEndpoint() {}

    static void handle(ApiHandler api, Request req, Response res, Callback cb, byte[] body) {
        Fields f = Fields.parse(body).only(FIELDS);
        if (!f.has("prompt")) throw ApiError.badRequest("prompt is required");
        if (!f.has("seed")) throw ApiError.badRequest("seed is required (the device continues the same noise stream)");
        if (!f.has("steps") || !f.has("split")) throw ApiError.badRequest("steps and split are required");
        Batcher model = api.server().model(f.str("model", null));
        int size = model.denoiser.defaultImageSize();
        SamplingDefaults d = model.denoiser.samplingDefaults();
        GenerateRequest g = new GenerateRequest(f.str("prompt", ""), f.str("negative_prompt", ""), f.int32("steps", 0),
                (float) f.number("cfg_scale", d.cfg()), f.int32("cfg_max_timestep", d.cfgMaxTimestep()), f.str("scheduler", d.scheduler()), f.integer("seed", 0),
                f.int32("width", size), f.int32("height", size), null, null, 1f);
        api.limits().check(g);
        int split = f.int32("split", 0);
        if (split < 1 || split > g.steps()) throw ApiError.badRequest("split must be in 1.." + g.steps() + " (steps), got " + split);
        String nonce = f.str("nonce", "");
        if (nonce.length() > 64) throw ApiError.badRequest("nonce is longer than 64 characters");
        boolean embeddings = f.bool("return_embeddings", false);

        Job job = api.run(req, res, model, List.of(new Job(g, split, false, api.limitsTimeoutNanos())))
                .getFirst();
        DenoiseSession s = job.session;
        Handoff h = new Handoff(model.name, nonce, g.seed(), g.width(), g.height(), g.steps(), split, g.cfg(),
                s.schedulerState(), s.noiseDraws(), s.latentShape(), s.latents(), model.denoiser.latentSpace(), s.rows(),
                s.contextTokens(), embeddings ? s.context() : null, job.finishedSeconds);
        res.getHeaders().put("X-Server-Seconds", String.format(java.util.Locale.ROOT, "%.4f", job.finishedSeconds));
        ApiHandler.send(res, cb, 200, Handoff.CONTENT_TYPE, h.encode());
    }
}
