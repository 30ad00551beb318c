package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A latent consistency distillation recipe (recipes/mini-lcm.json), with diffusers' train_lcm_distill_sd_wds
 * semantics: the teacher (a model path or built-in name), the data its latents come from, {@code mode} {@code full} (a
 * student UNet with {@code time_cond_proj_dim} taking the guidance scale, an EMA target network) or {@code lora}
 * (LCM-LoRA: low-rank factors on the frozen teacher, no guidance embedding, the student itself as its target), the
 * DDIM solver's grid ({@code num_ddim_timesteps}: skip = 1000 / it), the guidance range w ~ U[w_min, w_max] (CFG
 * scale w + 1) applied by the teacher at timesteps up to {@code guidance_max_timestep}, the Huber constant, the
 * optimization ({@code distill}: steps, batch, lr, warmup, ema = the target's decay, ...) and the sampling defaults
 * the student ships with. Unknown keys and bad values are one-line errors.
 */
public record LcmRecipe(String name, String teacher, Path data, int images, long seed, int checkpointSeconds, String dtype,
                        String mode, int timeCondProjDim, int ddimTimesteps, double wMin, double wMax, int guidanceMaxTimestep,
                        double huberC, Recipe.Stage distill, int loraRank, float loraAlpha, String loraTarget,
                        SamplingDefaults samplingDefaults, Map<String, Object> json) {
    private static final Set<String> KEYS = Set.of("name", "teacher", "data", "images", "seed", "checkpoint_seconds", "dtype", "mode",
            "time_cond_proj_dim", "num_ddim_timesteps", "w_min", "w_max", "guidance_max_timestep", "huber_c", "distill", "lora",
            "sampling_defaults");
    private static final Set<String> LORA_KEYS = Set.of("rank", "alpha", "target");

    public boolean lora() {
        return mode.equals("lora");
    }

    public static LcmRecipe read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read recipe " + file + ": " + e.getMessage());
        }
        String src = file.toString();
        Map<String, Object> r = Json.parseObject(text, src);
        Recipe.onlyKnownKeys(r, KEYS, src);
        String mode = (String) r.getOrDefault("mode", "full");
        if (!mode.equals("full") && !mode.equals("lora")) throw new ModelFormatException(src + ": \"mode\" must be \"full\" or \"lora\", got " + mode);
        double wMin = Recipe.optional(r, "w_min", 0.0, src), wMax = Recipe.optional(r, "w_max", 2.0, src);
        if (!(wMin >= 0 && wMax >= wMin)) throw new ModelFormatException(src + ": need 0 <= w_min <= w_max, got " + wMin + ", " + wMax);
        int ddim = (int) Recipe.optional(r, "num_ddim_timesteps", 50, src);
        if (ddim < 2 || 1000 % ddim != 0) throw new ModelFormatException(src + ": num_ddim_timesteps must divide 1000, got " + ddim);
        int condDim = (int) Recipe.optional(r, "time_cond_proj_dim", 256, src);
        if (condDim < 4 || condDim % 2 != 0) throw new ModelFormatException(src + ": time_cond_proj_dim must be an even number >= 4");
        double huber = Recipe.optional(r, "huber_c", 0.001, src);
        if (!(huber >= 0)) throw new ModelFormatException(src + ": huber_c must be >= 0 (0: L2 loss)");
        int rank = 0;
        float alpha = 0;
        String target = null;
        if (mode.equals("lora")) {
            if (!(r.get("lora") instanceof Map<?, ?> l)) throw new ModelFormatException(src + ": mode lora needs a \"lora\" object (rank, alpha, target)");
            @SuppressWarnings("unchecked") Map<String, Object> lm = (Map<String, Object>) l;
            Recipe.onlyKnownKeys(lm, LORA_KEYS, src + " lora");
            rank = (int) Recipe.number(lm, "rank", src + " lora");
            alpha = (float) Recipe.optional(lm, "alpha", rank, src + " lora");
            target = (String) lm.getOrDefault("target", "all");
            if (rank < 1) throw new ModelFormatException(src + " lora: rank must be >= 1");
        }
        Object sd = r.get("sampling_defaults");
        @SuppressWarnings("unchecked")
        SamplingDefaults defaults = sd == null ? null : SamplingDefaults.parse(new Config(src + " sampling_defaults", (Map<String, Object>) sd));
        return new LcmRecipe(Recipe.string(r, "name", src), Recipe.string(r, "teacher", src), Path.of(Recipe.string(r, "data", src)),
                (int) Recipe.optional(r, "images", 0, src), (long) Recipe.number(r, "seed", src),
                (int) Recipe.optional(r, "checkpoint_seconds", 120, src), (String) r.getOrDefault("dtype", "f16"), mode, condDim, ddim,
                wMin, wMax, (int) Recipe.optional(r, "guidance_max_timestep", 1000, src), huber, Recipe.stage(r, "distill", src),
                rank, alpha, target, defaults, new LinkedHashMap<>(r));
    }

    /** The same recipe with another step count (quick runs, tests). */
    public LcmRecipe withSteps(long steps) {
        Recipe.Stage d = distill;
        Recipe.Stage s = new Recipe.Stage(steps, d.batch(), d.lr(), Math.min(d.warmup(), Math.max(1, steps / 10)), d.lrFloor(), d.weightDecay(),
                d.clipNorm(), d.ema(), d.klWeight(), d.captionDropout(), d.edgeWeight(), d.adversarialWeight(), d.featureMatchingWeight(),
                d.minSnrGamma(), d.inputPerturbation(), d.emaAlternatives());
        return new LcmRecipe(name, teacher, data, images, seed, checkpointSeconds, dtype, mode, timeCondProjDim, ddimTimesteps, wMin, wMax,
                guidanceMaxTimestep, huberC, s, loraRank, loraAlpha, loraTarget, samplingDefaults, json);
    }

    /** The same recipe reading its latents from another data folder. */
    public LcmRecipe withData(Path dir) {
        return new LcmRecipe(name, teacher, dir, images, seed, checkpointSeconds, dtype, mode, timeCondProjDim, ddimTimesteps, wMin, wMax,
                guidanceMaxTimestep, huberC, distill, loraRank, loraAlpha, loraTarget, samplingDefaults, json);
    }
}
