package dev.edgediffuse.distill;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.model.vae.TinyAutoencoder;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.train.DecoderObjective;
import dev.edgediffuse.train.Discriminator;
import dev.edgediffuse.train.LatentDataset;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Recipe;
import dev.edgediffuse.train.Rng;
import dev.edgediffuse.train.TrainingLoop;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A tiny decoder (the AutoencoderTiny layout, decoder only) distilled from a model's AutoencoderKL on the same latent
 * space, as Hybrid SD pairs its small UNet with a tiny VAE: it decodes the UNet's latents directly (scaling 1), is
 * trained on the teacher encoder's posterior samples of the training images against the teacher decoder's output,
 * with the recipe's decoder stages (L1 + edge loss, then also a discriminator's hinge and feature-matching terms on
 * the real images). Writes a VAE folder (config.json and weights) that {@code --vae} loads.
 */
public final class TinyDecoderDistillation {
    private static final Set<String> KEYS = Set.of("name", "teacher", "data", "images", "seed", "checkpoint_seconds", "dtype", "vae_config",
            "decoder", "decoder_adversarial");

    /** The recipe (recipes/mini-tiny-vae.json). */
    public record Settings(String name, String teacher, Path data, int images, long seed, int checkpointSeconds, DType dtype, Config config,
                           Recipe.Stage decoder, Recipe.Stage adversarial) {
        @SuppressWarnings("unchecked")
        public static Settings read(Path file) {
            String src = file.toString();
            Map<String, Object> r;
            try {
                r = Json.parseObject(Files.readString(file), src);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read recipe " + file + ": " + e.getMessage());
            }
            Recipe.onlyKnownKeys(r, KEYS, src);
            if (!(r.get("vae_config") instanceof Map<?, ?> c)) throw new ModelFormatException(src + ": \"vae_config\" must be an object");
            Config config = new Config(src + " vae_config", (Map<String, Object>) c);
            if (!"AutoencoderTiny".equals(config.getString("_class_name", null))) {
                throw new ModelFormatException(src + ": vae_config must be an AutoencoderTiny config (\"_class_name\": \"AutoencoderTiny\")");
            }
            String dtype = r.getOrDefault("dtype", "f16").toString();
            if (!dtype.equals("f16") && !dtype.equals("f32")) throw new ModelFormatException(src + ": \"dtype\" must be f16 or f32");
            for (String k : new String[]{"name", "teacher", "data"}) {
                if (!(r.get(k) instanceof String)) throw new ModelFormatException(src + ": \"" + k + "\" must be a string");
            }
            return new Settings((String) r.get("name"), (String) r.get("teacher"), Path.of((String) r.get("data")),
                    ((Number) r.getOrDefault("images", 0)).intValue(), ((Number) r.getOrDefault("seed", 0)).longValue(),
                    ((Number) r.getOrDefault("checkpoint_seconds", 120)).intValue(), dtype.equals("f32") ? DType.F32 : DType.F16, config,
                    Recipe.stage(r, "decoder", src), r.containsKey("decoder_adversarial") ? Recipe.stage(r, "decoder_adversarial", src) : null);
        }
    }

    private TinyDecoderDistillation() {}

    /** Trains (or resumes) both stages in {@code work} and writes the VAE folder {@code out}. */
    public static void run(Settings s, String teacherOverride, Path out, Path work, PrintStream log) throws IOException {
        Path teacherPath = BuiltInModel.resolve(teacherOverride != null ? teacherOverride : s.teacher(), log);
        Files.createDirectories(work);
        try (Checkpoint teacher = Checkpoint.open(teacherPath, null)) {
            if (!(ImageAutoencoder.create(teacher.vae.config(), teacher.vae.weights()) instanceof AutoencoderKL kl)) {
                throw new ModelFormatException(teacherPath + ": the teacher's VAE must be an AutoencoderKL");
            }
            Parameters p = Parameters.initialize(RandomCheckpoint.vaeTensors(s.config()), new Rng(s.seed()));
            TinyAutoencoder tiny = new TinyAutoencoder(s.config(), p.weights("tiny decoder"));
            if (tiny.latentChannels() != kl.latentChannels() || tiny.downscale() != kl.downscale()) {
                throw new ModelFormatException("vae_config: a decoder of " + tiny.latentChannels() + " latent channels at 1/" + tiny.downscale()
                        + " scale cannot stand in for the teacher's (" + kl.latentChannels() + " at 1/" + kl.downscale() + ")");
            }
            FashionMnist train = FashionMnist.train(s.data());
            if (s.images() > 0 && s.images() < train.count()) train = new FashionMnist(train.pixels(), train.labels(), s.images());
            LatentDataset latents = LatentDataset.encode(kl, train, 1f, log).toUnet(LatentScaling.ofVae(teacher.vae.config(), kl.latentChannels()));
            log.printf("tiny decoder: %,d parameters, distilled from %s's VAE on %d images%n", p.count(), teacherPath, train.count());
            stage("decoder", s.decoder(), p, tiny, kl, train, latents, s, work, null, log);
            if (s.adversarial() != null) {
                Parameters disc = Discriminator.initialize(new Rng(s.seed() + 4));
                Discriminator d = new Discriminator(disc, s.adversarial().adversarialWeight(), s.adversarial().featureMatchingWeight());
                stage("decoder_adversarial", s.adversarial(), p, tiny, kl, train, latents, s, work, Map.entry(disc, d), log);
            }
            write(s, p, out, teacherPath);
            log.println("wrote " + out);
        }
    }

    private static void stage(String name, Recipe.Stage st, Parameters p, TinyAutoencoder tiny, AutoencoderKL teacher, FashionMnist train,
                              LatentDataset latents, Settings s, Path work, Map.Entry<Parameters, Discriminator> adversary, PrintStream log)
            throws IOException {
        Parameters trained = adversary == null ? p : Parameters.union(Map.of("vae.", p, "discriminator.", adversary.getKey()));
        log.printf("%s: %d steps of %d latents, lr %.2e, edge weight %.2f%s%n", name, st.steps(), st.batch(), st.lr(), st.edgeWeight(),
                adversary == null ? "" : String.format(", adversarial weight %.3f, feature matching %.3f", st.adversarialWeight(),
                        st.featureMatchingWeight()));
        TrainingLoop loop = new TrainingLoop(name, trained, st.settings(s.checkpointSeconds()), work, log);
        loop.run(new DecoderObjective(tiny::decode, teacher::decode, train, latents, st.batch(), st.edgeWeight(),
                s.seed() + (adversary == null ? 3 : 4), adversary == null ? null : adversary.getValue()));
        trained.copyFrom(loop.emaWeights());
    }

    private static void write(Settings s, Parameters p, Path out, Path teacher) throws IOException {
        Path abs = out.toAbsolutePath(), tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        AtomicFiles.write(tmp.resolve("config.json"), Json.write(s.config().values()).getBytes(StandardCharsets.UTF_8));
        p.save(tmp.resolve("diffusion_pytorch_model.safetensors"), s.dtype(), Map.of());
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("name", s.name());
        provenance.put("teacher", teacher.toString());
        provenance.put("seed", s.seed());
        provenance.put("decoder", s.decoder().toJson());
        if (s.adversarial() != null) provenance.put("decoder_adversarial", s.adversarial().toJson());
        AtomicFiles.write(tmp.resolve("recipe.json"), Json.write(provenance).getBytes(StandardCharsets.UTF_8));
        if (Files.exists(abs)) {
            Path old = abs.resolveSibling(abs.getFileName() + ".old");
            deleteTree(old);
            Files.move(abs, old);
            Files.move(tmp, abs);
            deleteTree(old);
        } else {
            Files.move(tmp, abs);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var w = Files.walk(p)) {
            for (Path q : w.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
