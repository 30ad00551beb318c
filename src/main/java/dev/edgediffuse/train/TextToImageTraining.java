package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.scheduler.NoiseSchedule;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Trains a text-to-image latent diffusion model from scratch in stages, as Stable Diffusion was built:
 * (1) the AutoencoderKL, (1b, optional) its decoder fine-tuned on the frozen encoder (pixel losses, then against a
 * discriminator), (2) the CLIP-style text encoder and the UNet jointly on the frozen encoder's latents, (2b, optional)
 * a fine-tune of both with the recipe's {@code diffusion_finetune} settings. The result is
 * a diffusers folder the runtime loads exactly as it loads SD1.5. Each stage resumes from its checkpoint in
 * {@code workDir}; a finished stage is not repeated.
 */
public final class TextToImageTraining {
    private final Recipe recipe;
    private final Path out, workDir, pretrainedVae, pretrainedDiffusion;
    private final PrintStream log;

    /**
     * @param pretrainedVae a diffusers folder whose {@code vae/} is used as it is (stages 1 and 1b are skipped, its
     *                      {@code scaling_factor} kept), or null to train the autoencoder too
     * @param pretrainedDiffusion a diffusers folder whose text encoder and UNet stand for the diffusion stage's result
     *                      (stage 2 is skipped; only the fine-tune runs), or null
     */
    public TextToImageTraining(Recipe recipe, Path out, Path workDir, Path pretrainedVae, Path pretrainedDiffusion, PrintStream log) {
        this.recipe = recipe;
        this.out = out;
        this.workDir = workDir;
        this.pretrainedVae = pretrainedVae;
        this.pretrainedDiffusion = pretrainedDiffusion;
        this.log = log;
    }

    public void run() throws IOException {
        ModelConfigs configs = ModelConfigs.resolve(recipe.config());
        FashionMnist train = FashionMnist.train(recipe.data());
        if (recipe.images() > 0 && recipe.images() < train.count()) {
            train = new FashionMnist(train.pixels(), train.labels(), recipe.images());
        }
        DType dtype = switch (recipe.dtype()) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("recipe dtype must be f32 or f16, got " + recipe.dtype());
        };
        Files.createDirectories(workDir);

        Parameters vaeParams;
        Config vaeConfig;
        LatentDataset raw;
        if (pretrainedVae != null) {
            Path configFile = pretrainedVae.resolve("vae/config.json");
            vaeConfig = Config.read(configFile);
            if (!(vaeConfig.getDouble("scaling_factor", 0) > 0)) throw new ModelFormatException(configFile + ": scaling_factor must be a positive number");
            if (vaeConfig.getInt("latent_channels", 4) != configs.unet().getInt("in_channels", 4)) {
                throw new ModelFormatException(configFile + ": latent_channels " + vaeConfig.getInt("latent_channels", 4)
                        + " does not match the recipe's UNet in_channels " + configs.unet().getInt("in_channels", 4));
            }
            vaeParams = Parameters.initialize(RandomCheckpoint.vaeTensors(vaeConfig), new Rng(recipe.seed()));
            vaeParams.load(pretrainedVae.resolve("vae/diffusion_pytorch_model.safetensors"));
            log.printf("vae: %,d parameters from %s (autoencoder stages skipped)%n", vaeParams.count(), pretrainedVae);
            raw = LatentDataset.encode(new AutoencoderKL(vaeConfig, vaeParams.weights("vae")), train, 1f, log);
        } else {
            vaeParams = Parameters.initialize(RandomCheckpoint.vaeTensors(configs.vae()), new Rng(recipe.seed()));
            AutoencoderKL vae = new AutoencoderKL(configs.vae(), vaeParams.weights("vae"));
            float scaling = trainAutoencoder(vae, vaeParams, train);
            vaeConfig = withValue(configs.vae(), "scaling_factor", (double) scaling);
            raw = LatentDataset.encode(vae, train, 1f, log);
            fineTuneDecoders(vae, vaeParams, train, raw);
            // the UNet learns the latents of the encoder as shipped (rounded to the recipe's dtype), the ones --vae on
            // the written folder also gives: a diffusion stage rerun on it reproduces this one bit for bit
            if (dtype != DType.F32) {
                raw = LatentDataset.encode(new AutoencoderKL(vaeConfig, vaeParams.storedAs(dtype).weights("vae")), train, 1f, log);
            }
        }
        if (recipe.perChannelLatents() && !vaeConfig.has("latents_mean")) vaeConfig = standardizeChannels(vaeConfig, raw);
        LatentDataset latents = raw.toUnet(LatentScaling.ofVae(vaeConfig, raw.channels()));

        // stage 2: text encoder + UNet on the frozen encoder's latents
        Parameters unetParams = Parameters.initialize(RandomCheckpoint.unetTensors(configs.unet()), new Rng(recipe.seed() + 1));
        Parameters textParams = Parameters.initialize(RandomCheckpoint.textTensors(configs.text()), new Rng(recipe.seed() + 2));
        ClipTokenizer tokenizer = ClipTokenizer.builtIn();
        keepOnlyCaptionTokens(textParams, tokenizer);
        UNet2DConditionModel unet = new UNet2DConditionModel(configs.unet(), unetParams.weights("unet"));
        ClipTextModel text = new ClipTextModel(configs.text(), textParams.weights("text_encoder"));
        Parameters joint = Parameters.union(Map.of("unet.", unetParams, "text.", textParams));
        float[] alphas = NoiseSchedule.of(configs.scheduler()).alphasCumprod();
        if (pretrainedDiffusion != null) {
            unetParams.load(pretrainedDiffusion.resolve("unet/diffusion_pytorch_model.safetensors"));
            textParams.withPrefix("text_model.").load(pretrainedDiffusion.resolve("text_encoder/model.safetensors"));
            log.printf("diffusion: UNet and text encoder from %s (diffusion stage skipped)%n", pretrainedDiffusion);
        } else {
            Recipe.Stage d = recipe.diffusion();
            log.printf("diffusion: UNet %,d + text encoder %,d parameters, %d steps of %d latents%s%n", unetParams.count(),
                    textParams.count(), d.steps(), d.batch(), lossNote(d, ""));
            TrainingLoop loop = new TrainingLoop("diffusion", joint, d.settings(recipe.checkpointSeconds()), workDir, log);
            loop.run(new DiffusionObjective(unet, text, latents, train.labels(), tokenizer, alphas, d.batch(), d.captionDropout(),
                    d.minSnrGamma(), d.inputPerturbation(), recipe.seed()));
            for (double decay : d.emaAlternatives()) {
                joint.copyFrom(loop.emaWeights(decay));
                writeModel(alternativeFolder(out, decay), configs, vaeConfig, unetParams, vaeParams, textParams, dtype, decay);
            }
            joint.copyFrom(loop.emaWeights());
        }
        Recipe.Stage f = recipe.diffusionFinetune();
        if (f != null) {
            // from the weights as saved, which --diffusion-from on a folder written without the fine-tune also reads:
            // such a rerun reproduces this stage bit for bit. Its batches and noise follow the recipe's seed, as the
            // diffusion stage's do.
            joint.copyFrom(joint.storedAs(dtype));
            log.printf("diffusion_finetune: %d steps of %d latents, lr %.2e%s%n", f.steps(), f.batch(), f.lr(),
                    lossNote(f, ", unweighted"));
            TrainingLoop loop = new TrainingLoop("diffusion_finetune", joint, f.settings(recipe.checkpointSeconds(), true), workDir, log);
            loop.run(new DiffusionObjective(unet, text, latents, train.labels(), tokenizer, alphas, f.batch(), f.captionDropout(),
                    f.minSnrGamma(), f.inputPerturbation(), recipe.seed()));
            joint.copyFrom(loop.emaWeights());
        }
        writeModel(out, configs, vaeConfig, unetParams, vaeParams, textParams, dtype, recipe.diffusion().ema());
    }

    /** Where the model of an alternative EMA decay goes: beside the main one, e.g. {@code mini-ema0.9995}. */
    public static Path alternativeFolder(Path out, double decay) {
        return out.resolveSibling(out.getFileName() + "-ema" + decay);
    }

    /** The log's note on a diffusion stage's loss: its Min-SNR weighting ({@code unweighted} when off) and input perturbation. */
    private static String lossNote(Recipe.Stage s, String unweighted) {
        return (s.minSnrGamma() > 0 ? ", Min-SNR weights at gamma " + s.minSnrGamma() : unweighted)
                + (s.inputPerturbation() > 0 ? ", input perturbation " + s.inputPerturbation() : "");
    }

    /** The diffusers folder, written next to its final location and moved into place. */
    private void writeModel(Path out, ModelConfigs configs, Config vaeConfig, Parameters unetParams, Parameters vaeParams,
                            Parameters textParams, DType dtype, double emaDecay) throws IOException {
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        new ModelConfigs(configs.unet(), vaeConfig, configs.text(), configs.scheduler()).writeTo(tmp);
        unetParams.save(tmp.resolve("unet/diffusion_pytorch_model.safetensors"), dtype, Map.of());
        vaeParams.save(tmp.resolve("vae/diffusion_pytorch_model.safetensors"), dtype, Map.of());
        textParams.withPrefix("text_model.").save(tmp.resolve("text_encoder/model.safetensors"), dtype, Map.of());
        if (recipe.samplingDefaults() != null) {
            AtomicFiles.write(tmp.resolve(SamplingDefaults.FILE), Json.write(recipe.samplingDefaults().toJson()).getBytes(StandardCharsets.UTF_8));
        }
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("name", recipe.name());
        provenance.put("seed", recipe.seed());
        if (pretrainedVae != null) {
            provenance.put("vae_from", pretrainedVae.toString());
        } else {
            provenance.put("vae_steps", recipe.vae().steps());
            provenance.put("decoder_steps", recipe.decoder() == null ? 0 : recipe.decoder().steps());
            provenance.put("decoder_adversarial_steps", recipe.decoderAdversarial() == null ? 0 : recipe.decoderAdversarial().steps());
        }
        if (pretrainedDiffusion != null) {
            provenance.put("diffusion_from", pretrainedDiffusion.toString());
        } else {
            provenance.put("diffusion_steps", recipe.diffusion().steps());
            provenance.put("diffusion_ema", emaDecay);
        }
        if (recipe.diffusionFinetune() != null) provenance.put("diffusion_finetune_steps", recipe.diffusionFinetune().steps());
        provenance.put("config", recipe.config());
        if (recipe.perChannelLatents()) provenance.put("latent_normalization", "per_channel");
        provenance.put("stages", stagesRun(pretrainedVae != null, pretrainedDiffusion != null, emaDecay));
        AtomicFiles.write(tmp.resolve("recipe.json"), Json.write(provenance).getBytes(StandardCharsets.UTF_8));
        replace(tmp, out);
        log.println("wrote " + out);
    }

    /**
     * Every setting of each stage this run trained, under its recipe key (loss weights included, not only steps); the
     * diffusion stage's ema is the decay of the weights in this folder (an ema_alternatives model has its own).
     */
    private Map<String, Object> stagesRun(boolean vaeGiven, boolean diffusionGiven, double emaDecay) {
        Map<String, Object> stages = new LinkedHashMap<>();
        if (!vaeGiven) {
            stages.put("vae", recipe.vae().toJson());
            if (recipe.decoder() != null) stages.put("decoder", recipe.decoder().toJson());
            if (recipe.decoderAdversarial() != null) stages.put("decoder_adversarial", recipe.decoderAdversarial().toJson());
        }
        if (!diffusionGiven) {
            Map<String, Object> diffusion = recipe.diffusion().toJson();
            diffusion.put("ema", emaDecay);
            stages.put("diffusion", diffusion);
        }
        if (recipe.diffusionFinetune() != null) stages.put("diffusion_finetune", recipe.diffusionFinetune().toJson());
        return stages;
    }

    /**
     * Per-channel latents (recipe {@code latent_normalization: per_channel}): each channel of the UNet's latents gets
     * zero mean and unit spread, so the noise schedule treats the channels alike and pure noise at t = 999 matches
     * centred data. Measured on the encoder as shipped, the one the UNet learns.
     */
    private Config standardizeChannels(Config vaeConfig, LatentDataset raw) {
        double[][] m = raw.channelMoments(4096, recipe.seed());
        log.printf("vae: per-channel latents: latents_mean %s, latents_std %s%n", java.util.Arrays.toString(m[0]), java.util.Arrays.toString(m[1]));
        Config c = withValue(vaeConfig, "latents_mean", java.util.Arrays.stream(m[0]).boxed().toList());
        c = withValue(c, "latents_std", java.util.Arrays.stream(m[1]).boxed().toList());
        return withValue(c, "scaling_factor", 1.0);
    }

    /** Stage 1: the autoencoder; leaves the EMA weights in {@code vaeParams} and returns the latent scaling factor. */
    private float trainAutoencoder(AutoencoderKL vae, Parameters vaeParams, FashionMnist train) throws IOException {
        log.printf("vae: %,d parameters, %d steps of %d images%n", vaeParams.count(), recipe.vae().steps(), recipe.vae().batch());
        TrainingLoop vaeLoop = new TrainingLoop("vae", vaeParams, recipe.vae().settings(recipe.checkpointSeconds()), workDir, log);
        vaeLoop.run(new VaeObjective(vae, train, recipe.vae().batch(), recipe.vae().klWeight(), recipe.seed()));
        vaeParams.copyFrom(vaeLoop.emaWeights());
        double std = LatentDataset.sampleStd(vae, train, 4096, recipe.seed());
        float scaling = (float) (1.0 / std);
        log.printf("vae: latent std %.4f -> scaling_factor %.5f%n", std, scaling);
        return scaling;
    }

    /**
     * Stage 1b (optional): the decoder alone on the frozen encoder's posteriors, so the latent space does not move,
     * first on pixel losses, then against a discriminator.
     */
    private void fineTuneDecoders(AutoencoderKL vae, Parameters vaeParams, FashionMnist train, LatentDataset raw) throws IOException {
        if (recipe.decoder() != null) fineTuneDecoder("decoder", recipe.decoder(), vae, vaeParams, train, raw, false);
        if (recipe.decoderAdversarial() != null) {
            fineTuneDecoder("decoder_adversarial", recipe.decoderAdversarial(), vae, vaeParams, train, raw, true);
        }
    }

    private void fineTuneDecoder(String stage, Recipe.Stage settings, AutoencoderKL vae, Parameters vaeParams, FashionMnist train,
                                 LatentDataset raw, boolean adversarial) throws IOException {
        Parameters decoder = vaeParams.only("decoder.", "post_quant_conv.");
        Parameters trained = decoder;
        Discriminator discriminator = null;
        if (adversarial) {
            Parameters disc = Discriminator.initialize(new Rng(recipe.seed() + 4));
            discriminator = new Discriminator(disc, settings.adversarialWeight(), settings.featureMatchingWeight());
            trained = Parameters.union(Map.of("vae.", decoder, "discriminator.", disc));
        }
        log.printf("%s: %,d decoder parameters%s, %d steps of %d latents, edge weight %.2f%n", stage, decoder.count(),
                adversarial ? String.format(", adversarial weight %.3f, feature matching %.3f", settings.adversarialWeight(),
                        settings.featureMatchingWeight()) : "", settings.steps(),
                settings.batch(), settings.edgeWeight());
        TrainingLoop loop = new TrainingLoop(stage, trained, settings.settings(recipe.checkpointSeconds()), workDir, log);
        long seed = recipe.seed() + (adversarial ? 4 : 3);
        loop.run(new DecoderObjective(vae, train, raw, settings.batch(), settings.edgeWeight(), seed, discriminator));
        trained.copyFrom(loop.emaWeights());
    }

    /**
     * Zeroes the embedding rows of tokens no caption uses: they never receive a gradient, and a zero row keeps
     * unknown words neutral and the shipped file compressible.
     */
    static void keepOnlyCaptionTokens(Parameters text, ClipTokenizer tokenizer) {
        String name = "embeddings.token_embedding.weight";
        float[] table = text.get(name);
        int hidden = text.shapes().get(name)[1];
        boolean[] used = new boolean[table.length / hidden];
        for (int c = 0; c < FashionMnist.CLASSES.length; c++) {
            for (String caption : Captions.all(c)) for (int id : tokenizer.encode(caption)) used[id] = true;
        }
        for (int id : tokenizer.encode("")) used[id] = true;
        for (int r = 0; r < used.length; r++) if (!used[r]) java.util.Arrays.fill(table, r * hidden, (r + 1) * hidden, 0f);
    }

    private static Config withValue(Config c, String key, Object value) {
        Map<String, Object> v = new LinkedHashMap<>(c.values());
        v.put(key, value);
        return new Config(c.source(), v);
    }

    private static void replace(Path tmp, Path out) throws IOException {
        if (Files.exists(out)) {
            Path old = out.resolveSibling(out.getFileName() + ".old");
            deleteTree(old);
            Files.move(out, old);
            Files.move(tmp, out);
            deleteTree(old);
        } else {
            Files.move(tmp, out);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
