package dev.edgediffuse.server;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.pipeline.GenerateRequest;
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
 * Unknown fields are ignored, as those clients send many that do not apply here.
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

    static void a1111(ApiHandler api, Request req, Response res, Callback cb, byte[] body) {
        Fields f = Fields.parse(body);
        Batcher model = api.server().model(f.str("model", f.object("override_settings").str("sd_model_checkpoint", null)));
        int size = model.denoiser.defaultImageSize();
        long seed = f.integer("seed", -1);
        if (seed == -1) seed = SEEDS.nextLong() & 0xffffffffL;
        int batch = f.int32("batch_size", 1), iters = f.int32("n_iter", 1);
        if (batch < 1 || iters < 1) throw ApiError.badRequest("batch_size and n_iter must be >= 1");
        if ((long) batch * iters > api.limits().maxImages()) {
            throw ApiError.badRequest("batch_size × n_iter is " + (long) batch * iters + "; the limit is " + api.limits().maxImages());
        }
        SamplingDefaults d = model.denoiser.samplingDefaults();
        GenerateRequest g = new GenerateRequest(f.str("prompt", ""), f.str("negative_prompt", ""), f.int32("steps", d.steps()),
                (float) f.number("cfg_scale", d.cfg()), f.int32("cfg_max_timestep", d.cfgMaxTimestep()),
                scheduler(f.str("sampler_name", f.str("sampler_index", d.scheduler())),
                f.str("scheduler", null)), seed, f.int32("width", size), f.int32("height", size), null, null, 1f);
        api.limits().check(g);
        List<String> images = new ArrayList<>(), infotexts = new ArrayList<>();
        List<Object> seeds = new ArrayList<>();
        for (Job j : api.run(req, res, model, jobs(api, g, batch * iters))) {
            String text = j.request.parametersText(model.name);
            images.add(png(j, text));
            infotexts.add(text);
            seeds.add(j.request.seed());
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", g.prompt());
        info.put("negative_prompt", g.negativePrompt());
        info.put("seed", g.seed());
        info.put("all_seeds", seeds);
        info.put("steps", (long) g.steps());
        info.put("cfg_scale", (double) g.cfg());
        info.put("cfg_max_timestep", g.cfgMaxTimestep());
        info.put("sampler_name", g.scheduler());
        info.put("width", (long) g.width());
        info.put("height", (long) g.height());
        info.put("sd_model_name", model.name);
        info.put("infotexts", infotexts);
        Map<String, Object> params = new LinkedHashMap<>(info);
        params.remove("infotexts");
        params.remove("all_seeds");
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

    private static List<Job> jobs(ApiHandler api, GenerateRequest g, int count) {
        List<Job> jobs = new ArrayList<>();
        for (int i = 0; i < count; i++) jobs.add(new Job(g.withSeed(g.seed() + i), g.steps(), true, api.limitsTimeoutNanos()));
        return jobs;
    }

    private static String png(Job j, String parameters) {
        try {
            byte[] rgb = Images.toRgb(j.image, 0);
            return Base64.getEncoder().encodeToString(Png.encode(rgb, j.image.width(), j.image.height(), Map.of("parameters", parameters)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
