package dev.edgediffuse.server;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.speedup.TokenMergeSettings;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Whole-image endpoints in the conventions existing clients speak: AUTOMATIC1111's {@code /sdapi/v1/txt2img} and
 * OpenAI's {@code /v1/images/generations}, both answering base64 PNGs (with the usual "parameters" text chunk).
 * Unknown fields are ignored, as those clients send many that do not apply here. Both take the speed-ups as extra
 * fields: {@code token_merging_ratio} (A1111's own setting name; also read from its {@code override_settings}),
 * {@code deepcache_interval} and {@code deepcache_branch}.
 */
final class ImageEndpoints {
    private static final SecureRandom SEEDS = new SecureRandom();

    private ImageEndpoints() {}

    /** A1111 sampler names (and our own scheduler names) → scheduler. */
    static String scheduler(String sampler, String schedule) {
        String s = sampler.trim().toLowerCase(Locale.ROOT);
        String name = switch (s) {
            case "euler a", "euler_a", "k_euler_a", "k_euler_ancestral" -> "euler_a";
            case "euler", "k_euler" -> "euler";
            case "ddim" -> "ddim";
            case "dpm++ 2m", "dpmpp_2m", "k_dpmpp_2m" -> "dpmpp_2m";
            case "dpm++ 2m karras", "dpmpp_2m_karras" -> "dpmpp_2m_karras";
            case "lcm" -> "lcm";
            default -> throw ApiError.badRequest("unsupported sampler_name '" + sampler
                    + "'; valid: Euler a, Euler, DDIM, DPM++ 2M, DPM++ 2M Karras, LCM");
        };
        if (name.equals("dpmpp_2m") && schedule != null && schedule.equalsIgnoreCase("karras")) name = "dpmpp_2m_karras";
        return name;
    }

    /** A txt2img body's model and request (one image's; the seed drawn when -1 or absent), every bad field a 400. */
    record A1111Request(Batcher model, GenerateRequest request) {}

    static A1111Request a1111Request(ApiHandler api, Fields f) {
        Batcher model = api.server().model(f.str("model", f.object("override_settings").str("sd_model_checkpoint", null)));
        int size = model.denoiser.defaultImageSize();
        long seed = f.integer("seed", -1);
        if (seed == -1) seed = SEEDS.nextLong() & 0xffffffffL;
        SamplingDefaults d = model.denoiser.samplingDefaults();
        GenerateRequest g = new GenerateRequest(f.str("prompt", ""), f.str("negative_prompt", ""), f.int32("steps", d.steps()),
                (float) f.number("cfg_scale", d.cfg()), f.int32("cfg_max_timestep", d.cfgMaxTimestep()),
                scheduler(f.str("sampler_name", f.str("sampler_index", d.scheduler())),
                f.str("scheduler", null)), seed, f.int32("width", size), f.int32("height", size), null, null, 1f);
        api.limits().check(g);
        return new A1111Request(model, g.withSpeedUps(speedUps(f, f.object("override_settings"), g, model)));
    }

    static void a1111(ApiHandler api, Request req, Response res, Callback cb, byte[] body) {
        Fields f = Fields.parse(body);
        int batch = f.int32("batch_size", 1), iters = f.int32("n_iter", 1);
        if (batch < 1 || iters < 1) throw ApiError.badRequest("batch_size and n_iter must be >= 1");
        if ((long) batch * iters > api.limits().maxImages()) {
            throw ApiError.badRequest("batch_size × n_iter is " + (long) batch * iters + "; the limit is " + api.limits().maxImages());
        }
        A1111Request parsed = a1111Request(api, f);
        Batcher model = parsed.model();
        GenerateRequest g = parsed.request();
        List<String> images = new ArrayList<>(), infotexts = new ArrayList<>();
        List<Object> seeds = new ArrayList<>();
        for (Job j : api.run(req, res, model, jobs(api, g, batch * iters))) {
            String text = j.request.parametersText(model.name);
            images.add(png(j, text));
            infotexts.add(text);
            seeds.add(j.request.seed());
        }
        Map<String, Object> info = parameters(g, model);
        info.put("all_seeds", seeds);
        info.put("infotexts", infotexts);
        Map<String, Object> params = parameters(g, model);
        params.put("batch_size", (long) batch);
        params.put("n_iter", (long) iters);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("images", images);
        out.put("parameters", params);
        out.put("info", Json.write(info));
        ApiHandler.json(res, cb, 200, out);
    }

    static void openAi(ApiHandler api, Request req, Response res, Callback cb, byte[] body) {
        Fields f = Fields.parse(body);
        String format = f.str("response_format", "b64_json");
        if (!format.equals("b64_json")) throw ApiError.badRequest("response_format '" + format + "' is not supported; use b64_json");
        Batcher model = api.server().model(f.str("model", null));
        int w = model.denoiser.defaultImageSize(), h = w;
        String size = f.str("size", null);
        if (size != null && !size.equals("auto")) {
            String[] p = size.split("x");
            try {
                if (p.length != 2) throw new NumberFormatException();
                w = Integer.parseInt(p[0]);
                h = Integer.parseInt(p[1]);
            } catch (NumberFormatException e) {
                throw ApiError.badRequest("size must look like 512x512, got '" + size + "'");
            }
        }
        int n = f.int32("n", 1);
        if (n < 1 || n > api.limits().maxImages()) throw ApiError.badRequest("n must be in 1.." + api.limits().maxImages() + ", got " + n);
        long seed = f.has("seed") ? f.integer("seed", 0) : SEEDS.nextLong() & 0xffffffffL;
        SamplingDefaults d = model.denoiser.samplingDefaults();
        GenerateRequest g = new GenerateRequest(f.str("prompt", ""), f.str("negative_prompt", ""), f.int32("steps", d.steps()),
                (float) f.number("cfg_scale", d.cfg()),
                f.int32("cfg_max_timestep", d.cfgMaxTimestep()), scheduler(f.str("scheduler", d.scheduler()), null), seed, w, h, null, null, 1f);
        api.limits().check(g);
        g = g.withSpeedUps(speedUps(f, null, g, model));
        List<Object> data = new ArrayList<>();
        for (Job j : api.run(req, res, model, jobs(api, g, n))) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("b64_json", png(j, j.request.parametersText(model.name)));
            item.put("revised_prompt", g.prompt());
            item.put("seed", j.request.seed());
            data.add(item);
        }
        ApiHandler.json(res, cb, 200, Map.of("created", System.currentTimeMillis() / 1000, "data", data));
    }

    /**
     * Token merging and DeepCache from a body's extra fields ({@code overrides}: A1111's override_settings, or null);
     * every bad value is a 400 naming its field.
     */
    static SpeedUps speedUps(Fields f, Fields overrides, GenerateRequest g, Batcher model) {
        String ratioField = "token_merging_ratio";
        Fields source = f.has(ratioField) || overrides == null ? f : overrides;
        // what a request leaves out comes from the model's sampling defaults (a compressed model's chosen speed-ups)
        SpeedUps defaults = model.denoiser.samplingDefaults().speedUpsFor(g.steps(), g.scheduler());
        TokenMergeSettings tome = source.has(ratioField) ? null : defaults.tokenMerge();
        if (source.has(ratioField)) {
            double ratio = source.number(ratioField, 0);
            if (!(ratio >= 0 && ratio < 1)) throw ApiError.badRequest(ratioField + " must be in [0, 1), got " + ratio);
            if (ratio > 0) tome = TokenMergeSettings.of(ratio);
        }
        DeepCacheSettings cache = f.has("deepcache_interval") || f.has("deepcache_branch") ? null : defaults.deepCache();
        if (f.has("deepcache_interval")) {
            int interval = f.int32("deepcache_interval", 0), branch = f.int32("deepcache_branch", 0);
            int branches = model.denoiser.unet().skipConnections();
            if (interval < 2) throw ApiError.badRequest("deepcache_interval must be >= 2, got " + interval);
            if (branch < 0 || branch >= branches) {
                throw ApiError.badRequest("deepcache_branch must be in 0.." + (branches - 1) + " for this model, got " + branch);
            }
            if (g.steps() < DeepCacheSettings.MIN_STEPS) {
                throw ApiError.badRequest("deepcache_interval needs at least " + DeepCacheSettings.MIN_STEPS + " steps, got " + g.steps());
            }
            if (g.scheduler().equals("lcm")) throw ApiError.badRequest("deepcache_interval does not apply to the LCM sampler");
            cache = new DeepCacheSettings(interval, branch);
        } else if (f.has("deepcache_branch")) {
            throw ApiError.badRequest("deepcache_branch needs deepcache_interval");
        }
        return new SpeedUps(tome, cache);
    }

    private static List<Job> jobs(ApiHandler api, GenerateRequest g, int count) {
        List<Job> jobs = new ArrayList<>();
        for (int i = 0; i < count; i++) jobs.add(new Job(g.withSeed(g.seed() + i), g.steps(), true, api.limitsTimeoutNanos()));
        return jobs;
    }

    /** A request's settings under A1111's names (txt2img's "parameters" and "info"; the stream's image event). */
    static Map<String, Object> parameters(GenerateRequest g, Batcher model) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("prompt", g.prompt());
        p.put("negative_prompt", g.negativePrompt());
        p.put("seed", g.seed());
        p.put("steps", (long) g.steps());
        p.put("cfg_scale", (double) g.cfg());
        p.put("cfg_max_timestep", g.cfgMaxTimestep());
        p.put("sampler_name", g.scheduler());
        p.put("width", (long) g.width());
        p.put("height", (long) g.height());
        p.put("sd_model_name", model.name);
        if (g.speedUps().tokenMerge() != null) p.put("token_merging_ratio", g.speedUps().tokenMerge().ratio());
        if (g.speedUps().deepCache() != null) {
            p.put("deepcache_interval", (long) g.speedUps().deepCache().interval());
            p.put("deepcache_branch", (long) g.speedUps().deepCache().branch());
        }
        return p;
    }

    static String png(Job j, String parameters) {
        try {
            byte[] rgb = Images.toRgb(j.image, 0);
            return Base64.getEncoder().encodeToString(Png.encode(rgb, j.image.width(), j.image.height(), Map.of("parameters", parameters)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
