package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A training recipe (recipes/*.json): which built-in config set or config folder to train, the data (optionally only
 * its first {@code images} training images, 0 = all), the seed, and per stage its steps, batch, learning rate and
 * regularization. The decoder fine-tunes are optional ({@code decoder}, then {@code decoderAdversarial} against a
 * discriminator; null when the recipe has none). {@code sampling_defaults} (optional) is written into the model
 * folder as its {@value SamplingDefaults#FILE}: the settings its evaluation chose. A stage's {@code ema_alternatives}
 * (optional) keeps more EMAs of the same run, each written as a model of its own, for choosing the decay after
 * training. {@code diffusion_finetune} (optional) continues the text encoder and UNet from the diffusion stage's
 * result, as saved, with its own settings (typically a lower learning rate and other loss weights). Every field is
 * checked with a one-line error, and so is a key the trainer does not know (a misspelt setting would otherwise train
 * something else without a word). {@code latent_normalization: per_channel} (optional) standardizes each latent
 * channel for the UNet (diffusers' latents_mean / latents_std in the VAE config) instead of one scaling_factor.
 * A diffusion stage's {@code input_perturbation} (optional, 0 = off) is {@link DiffusionObjective}'s.
 */
public record Recipe(String name, String config, Path data, int images, long seed, Stage vae, Stage decoder,
                     Stage decoderAdversarial, Stage diffusion, Stage diffusionFinetune, int checkpointSeconds, String dtype,
                     SamplingDefaults samplingDefaults, boolean perChannelLatents) {
    private static final Set<String> KEYS = Set.of("name", "config", "data", "images", "seed", "checkpoint_seconds", "dtype",
            "vae", "decoder", "decoder_adversarial", "diffusion", "diffusion_finetune", "sampling_defaults", "latent_normalization");
    private static final Set<String> STAGE_KEYS = Set.of("steps", "batch", "lr", "warmup", "lr_floor", "weight_decay", "clip_norm",
            "ema", "kl_weight", "caption_dropout", "edge_weight", "adversarial_weight", "feature_matching_weight", "min_snr_gamma",
            "input_perturbation", "ema_alternatives");

    public record Stage(long steps, int batch, double lr, long warmup, double lrFloor, double weightDecay,
                        double clipNorm, double ema, double klWeight, double captionDropout, double edgeWeight, double adversarialWeight,
                        double featureMatchingWeight, double minSnrGamma, double inputPerturbation, List<Double> emaAlternatives) {
        public TrainingLoop.Settings settings(int checkpointSeconds) {
            return settings(checkpointSeconds, false);
        }

        /** The stage under its recipe keys, every setting spelled out (defaults included): a trained model's provenance. */
        public Map<String, Object> toJson() {
            Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("steps", steps);
            m.put("batch", batch);
            m.put("lr", lr);
            m.put("warmup", warmup);
            m.put("lr_floor", lrFloor);
            m.put("weight_decay", weightDecay);
            m.put("clip_norm", clipNorm);
            m.put("ema", ema);
            m.put("kl_weight", klWeight);
            m.put("caption_dropout", captionDropout);
            m.put("edge_weight", edgeWeight);
            m.put("adversarial_weight", adversarialWeight);
            m.put("feature_matching_weight", featureMatchingWeight);
            m.put("min_snr_gamma", minSnrGamma);
            m.put("input_perturbation", inputPerturbation);
            if (!emaAlternatives.isEmpty()) m.put("ema_alternatives", emaAlternatives);
            return m;
        }

        /** {@code fromTrained}: the stage continues trained weights, so its EMA starts from them without a warm-up. */
        public TrainingLoop.Settings settings(int checkpointSeconds, boolean fromTrained) {
            return new TrainingLoop.Settings(steps, batch, lr, warmup, lrFloor, weightDecay, clipNorm, ema, emaAlternatives,
                    !fromTrained, checkpointSeconds, Math.max(1, (int) Math.min(50, steps / 20)));
        }
    }

    public static Recipe read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read recipe " + file + ": " + e.getMessage());
        }
        Map<String, Object> r = Json.parseObject(text, file.toString());
        String src = file.toString();
        onlyKnownKeys(r, KEYS, src);
        Stage vae = stage(r, "vae", src), decoder = optionalStage(r, "decoder", src), adversarial = optionalStage(r, "decoder_adversarial", src);
        onlyDiffusionKeepsAlternatives(vae, "vae", src);
        onlyDiffusionKeepsAlternatives(decoder, "decoder", src);
        onlyDiffusionKeepsAlternatives(adversarial, "decoder_adversarial", src);
        Stage diffusion = stage(r, "diffusion", src), finetune = optionalStage(r, "diffusion_finetune", src);
        onlyDiffusionKeepsAlternatives(finetune, "diffusion_finetune", src);
        if (finetune != null && !diffusion.emaAlternatives.isEmpty()) {
            throw new ModelFormatException(src + " diffusion: ema_alternatives cannot be used with diffusion_finetune"
                    + " (the alternative models would skip the fine-tune)");
        }
        return new Recipe(string(r, "name", src), string(r, "config", src), Path.of(string(r, "data", src)),
                (int) optional(r, "images", 0, src), (long) number(r, "seed", src), vae, decoder, adversarial, diffusion, finetune,
                (int) number(r, "checkpoint_seconds", src), r.getOrDefault("dtype", "f16").toString(), sampling(r, src),
                perChannel(r, src));
    }

    /** {@code latent_normalization}: "scaling_factor" (SD's one factor, the default) or "per_channel". */
    private static boolean perChannel(Map<String, Object> r, String src) {
        Object o = r.getOrDefault("latent_normalization", "scaling_factor");
        if ("per_channel".equals(o)) return true;
        if ("scaling_factor".equals(o)) return false;
        throw new ModelFormatException(src + ": \"latent_normalization\" must be \"scaling_factor\" or \"per_channel\", got " + o);
    }

    /** Only the diffusion stage writes a model per EMA; elsewhere the extra EMAs would be kept and never used. */
    private static void onlyDiffusionKeepsAlternatives(Stage s, String key, String src) {
        if (s != null && !s.emaAlternatives.isEmpty()) {
            throw new ModelFormatException(src + " " + key + ": ema_alternatives is for the diffusion stage only (it writes a model per EMA)");
        }
    }

    /** The optional {@code sampling_defaults} object of a parsed recipe, or null. */
    @SuppressWarnings("unchecked")
    public static SamplingDefaults sampling(Map<String, Object> r, String src) {
        Object o = r.get("sampling_defaults");
        if (o == null) return null;
        if (!(o instanceof Map)) throw new ModelFormatException(src + ": \"sampling_defaults\" must be an object");
        return SamplingDefaults.parse(new Config(src + " sampling_defaults", (Map<String, Object>) o));
    }

    /**
     * The same recipe with the VAE, both decoder fine-tunes and both diffusion stages set to the given step counts
     * (smoke tests, quick looks); a null count leaves its stages as the recipe has them.
     */
    public Recipe withSteps(Long vaeSteps, Long decoderSteps, Long diffusionSteps) {
        return new Recipe(name, config, data, images, seed, shorten(vae, vaeSteps), shorten(decoder, decoderSteps),
                shorten(decoderAdversarial, decoderSteps), shorten(diffusion, diffusionSteps), shorten(diffusionFinetune, diffusionSteps),
                checkpointSeconds, dtype, samplingDefaults, perChannelLatents);
    }

    private static Stage shorten(Stage s, Long steps) {
        if (s == null || steps == null) return s;
        return new Stage(steps, s.batch, s.lr, Math.min(s.warmup, Math.max(1, steps / 10)), s.lrFloor, s.weightDecay,
                s.clipNorm, s.ema, s.klWeight, s.captionDropout, s.edgeWeight, s.adversarialWeight, s.featureMatchingWeight, s.minSnrGamma,
                s.inputPerturbation, s.emaAlternatives);
    }

    private static Stage optionalStage(Map<String, Object> r, String key, String src) {
        return r.containsKey(key) ? stage(r, key, src) : null;
    }

    /** The stage under {@code key} of a parsed recipe (another trainer's recipes share the stage keys), checked. */
    @SuppressWarnings("unchecked")
    public static Stage stage(Map<String, Object> r, String key, String src) {
        Object o = r.get(key);
        if (!(o instanceof Map)) throw new ModelFormatException(src + ": \"" + key + "\" must be an object");
        Map<String, Object> s = (Map<String, Object>) o;
        String where = src + " " + key;
        onlyKnownKeys(s, STAGE_KEYS, where);
        Stage st = new Stage((long) number(s, "steps", where), (int) number(s, "batch", where), number(s, "lr", where),
                (long) number(s, "warmup", where), optional(s, "lr_floor", 0.05, where), optional(s, "weight_decay", 0.0, where),
                optional(s, "clip_norm", 1.0, where), optional(s, "ema", 0.999, where), optional(s, "kl_weight", 0.0, where),
                optional(s, "caption_dropout", 0.1, where), optional(s, "edge_weight", 0.0, where), optional(s, "adversarial_weight", 0.0, where),
                optional(s, "feature_matching_weight", 0.0, where), optional(s, "min_snr_gamma", 0.0, where),
                optional(s, "input_perturbation", 0.0, where), decays(s, "ema_alternatives", where));
        if (st.steps <= 0 || st.batch <= 0 || st.lr <= 0) throw new ModelFormatException(where + ": steps, batch and lr must be positive");
        if (!(st.ema > 0 && st.ema < 1)) throw new ModelFormatException(where + ": ema must be in (0, 1), got " + st.ema);
        if (st.emaAlternatives.contains(st.ema)) throw new ModelFormatException(where + ": ema_alternatives repeats ema " + st.ema);
        double reachable = Ema.decayCap(st.steps);
        for (double d : st.emaAlternatives) {
            if (d > reachable) {
                throw new ModelFormatException(String.format(java.util.Locale.ROOT, "%s: ema_alternatives %s never takes effect in %d steps:"
                        + " the EMA warm-up (1+t)/(10+t) stays below it (at most %.5f)", where, d, st.steps, reachable));
            }
        }
        if (st.minSnrGamma < 0) throw new ModelFormatException(where + ": min_snr_gamma must be >= 0 (0 = unweighted)");
        if (!(st.inputPerturbation >= 0 && st.inputPerturbation < 1)) {
            throw new ModelFormatException(where + ": input_perturbation must be in [0, 1) (0 = off), got " + st.inputPerturbation);
        }
        return st;
    }

    /** An optional array of EMA decays, each in (0, 1) and none repeated. */
    private static List<Double> decays(Map<String, Object> s, String key, String where) {
        Object o = s.get(key);
        if (o == null) return List.of();
        if (!(o instanceof List<?> list)) throw new ModelFormatException(where + ": \"" + key + "\" must be an array of numbers");
        List<Double> out = new ArrayList<>();
        for (Object e : list) {
            if (!(e instanceof Number n) || !(n.doubleValue() > 0 && n.doubleValue() < 1) || out.contains(n.doubleValue())) {
                throw new ModelFormatException(where + ": \"" + key + "\" must hold distinct decays in (0, 1), got " + e);
            }
            out.add(n.doubleValue());
        }
        return List.copyOf(out);
    }

    static String string(Map<String, Object> r, String key, String src) {
        Object o = r.get(key);
        if (!(o instanceof String s)) throw new ModelFormatException(src + ": \"" + key + "\" must be a string");
        return s;
    }

    static double number(Map<String, Object> r, String key, String src) {
        Object o = r.get(key);
        if (!(o instanceof Number n)) throw new ModelFormatException(src + ": \"" + key + "\" must be a number");
        return n.doubleValue();
    }

    static double optional(Map<String, Object> r, String key, double fallback, String src) {
        Object o = r.get(key);
        if (o == null) return fallback;
        if (!(o instanceof Number n)) throw new ModelFormatException(src + ": \"" + key + "\" must be a number");
        return n.doubleValue();
    }

    /** A key outside {@code known} is an error naming it and what is allowed there. */
    public static void onlyKnownKeys(Map<String, Object> r, Set<String> known, String src) {
        for (String k : r.keySet()) {
            if (!known.contains(k)) {
                throw new ModelFormatException(src + ": unknown key \"" + k + "\" (known: " + String.join(", ", known.stream().sorted().toList()) + ")");
            }
        }
    }
}
