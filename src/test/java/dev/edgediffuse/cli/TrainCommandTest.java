package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.kernels.Parallel;
import dev.edgediffuse.train.Recipe;
import dev.edgediffuse.train.TextToImageTraining;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.edgediffuse.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** `edgediffuse train` end to end on the tiny architecture and a few real images; its output generates. */
class TrainCommandTest {
    private static String recipe(String config) {
        return """
                {"name": "smoke", "config": "%s", "data": "%s", "images": 64, "seed": 3, "checkpoint_seconds": 0, "dtype": "f16",
                 "vae": {"steps": 2, "batch": 4, "lr": 1e-3, "warmup": 1, "kl_weight": 1e-4},
                 "decoder": {"steps": 2, "batch": 4, "lr": 1e-3, "warmup": 1, "edge_weight": 0.5},
                 "decoder_adversarial": {"steps": 2, "batch": 4, "lr": 1e-3, "warmup": 1, "edge_weight": 0.5, "adversarial_weight": 0.05,
                  "feature_matching_weight": 0.5},
                 "diffusion": {"steps": 2, "batch": 4, "lr": 1e-3, "warmup": 1, "min_snr_gamma": 5},
                 "sampling_defaults": {"steps": 4, "scheduler": "ddim", "cfg_scale": 2.0, "cfg_max_timestep": 600}}
                """.formatted(config, FashionMnist.DEFAULT_DIR);
    }

    /** The settings of each stage a trained model's recipe.json records. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> stagesOf(Path model) throws IOException {
        Object stages = Json.parseObject(Files.readString(model.resolve("recipe.json")), "recipe.json").get("stages");
        return (Map<String, Object>) stages;
    }

    @Test
    void trainsResumesAndTheResultGenerates(@TempDir Path tmp) throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed");
        Path r = Files.writeString(tmp.resolve("r.json"), recipe("tiny"));
        Path out = tmp.resolve("model");
        GenerateCommandTest.Run first = run("train", "--recipe", r.toString(), "--out", out.toString());
        assertEquals(0, first.code(), first.err());
        for (String f : new String[]{"model_index.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
                "text_encoder/model.safetensors"}) {
            assertTrue(Files.exists(out.resolve(f)), f);
        }
        assertTrue(Files.readString(out.resolve("vae/config.json")).contains("scaling_factor"));
        assertTrue(Files.readAllLines(tmp.resolve("model.work/diffusion.log.jsonl")).get(0).contains("\"loss\""));
        assertTrue(Files.readAllLines(tmp.resolve("model.work/decoder.log.jsonl")).get(0).contains("\"stage\":\"decoder\""));
        assertTrue(Files.readAllLines(tmp.resolve("model.work/decoder_adversarial.log.jsonl")).size() == 2);
        assertTrue(first.out().contains("adversarial weight 0.050, feature matching 0.500"), first.out());
        String written = Files.readString(out.resolve("recipe.json"));
        assertTrue(written.contains("\"decoder_steps\":2") && written.contains("\"decoder_adversarial_steps\":2"), written);
        Map<String, Object> stages = stagesOf(out);
        assertEquals(List.of("vae", "decoder", "decoder_adversarial", "diffusion"), List.copyOf(stages.keySet()), written);
        assertEquals(5.0, ((Number) ((Map<?, ?>) stages.get("diffusion")).get("min_snr_gamma")).doubleValue(), written);
        assertEquals(0.5, ((Number) ((Map<?, ?>) stages.get("decoder_adversarial")).get("feature_matching_weight")).doubleValue(), written);
        assertEquals(new SamplingDefaults(4, 2f, 600, "ddim"), SamplingDefaults.of(out), "the recipe's sampling defaults ship with the model");

        GenerateCommandTest.Run again = run("train", "--recipe", r.toString(), "--out", out.toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("vae: resuming at step 2 of 2"), again.out());

        Path png = tmp.resolve("x.png");
        GenerateCommandTest.Run gen = run("generate", "--model", out.toString(), "--prompt", "a photo of a sneaker",
                "--steps", "2", "--width", "32", "--height", "32", "--out", png.toString(), "--quiet");
        assertEquals(0, gen.code(), gen.err());
        assertTrue(Files.size(png) > 0);

        // a second model on the first one's autoencoder: only the diffusion stage runs, the VAE is carried over as it is
        Path second = tmp.resolve("second");
        GenerateCommandTest.Run onVae = run("train", "--recipe", r.toString(), "--vae", out.toString(), "--out", second.toString());
        assertEquals(0, onVae.code(), onVae.err());
        assertTrue(onVae.out().contains("autoencoder stages skipped"), onVae.out());
        assertTrue(Files.exists(tmp.resolve("second.work/diffusion.log.jsonl")));
        assertTrue(!Files.exists(tmp.resolve("second.work/vae.log.jsonl")) && !Files.exists(tmp.resolve("second.work/decoder.log.jsonl")));
        assertEquals(Files.readString(out.resolve("vae/config.json")), Files.readString(second.resolve("vae/config.json")));
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(out.resolve("vae/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(second.resolve("vae/diffusion_pytorch_model.safetensors"))));
        assertTrue(Files.readString(second.resolve("recipe.json")).contains("\"vae_from\""));
        assertEquals(List.of("diffusion"), List.copyOf(stagesOf(second).keySet()), "only the stage that ran is recorded");
        // the from-scratch run trained its UNet on the latents of the encoder as saved (f16), so the rerun is bitwise the same
        for (String f : new String[]{"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(out.resolve(f)), Files.readAllBytes(second.resolve(f))), f);
        }

        // more EMAs of the same run: each is a model folder of its own, and the main one is unchanged by them
        Path withAlternatives = Files.writeString(tmp.resolve("alt.json"), recipe("tiny").replace("\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"ema_alternatives\": [0.1]"));
        Path third = tmp.resolve("third");
        GenerateCommandTest.Run alt = run("train", "--recipe", withAlternatives.toString(), "--vae", out.toString(), "--out", third.toString());
        assertEquals(0, alt.code(), alt.err());
        Path thirdAlt = TextToImageTraining.alternativeFolder(third, 0.1);
        assertEquals(tmp.resolve("third-ema0.1"), thirdAlt);
        for (String f : new String[]{"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(second.resolve(f)), Files.readAllBytes(third.resolve(f))), f);
            assertFalse(java.util.Arrays.equals(Files.readAllBytes(third.resolve(f)), Files.readAllBytes(thirdAlt.resolve(f))), f);
        }
        assertTrue(Files.readString(thirdAlt.resolve("recipe.json")).contains("\"diffusion_ema\":0.1"));
        assertEquals(0.1, ((Number) ((Map<?, ?>) stagesOf(thirdAlt).get("diffusion")).get("ema")).doubleValue(),
                "an alternative model records its own decay among the stage's settings too");
        assertTrue(Files.readString(third.resolve("recipe.json")).contains("\"diffusion_ema\":0.999"));
        assertEquals(0, run("generate", "--model", thirdAlt.toString(), "--prompt", "a photo of a sneaker", "--steps", "2",
                "--width", "32", "--height", "32", "--out", tmp.resolve("y.png").toString(), "--quiet").code());

        // input perturbation reaches the objective: the same seed and batches, another UNet
        Path perturbedRecipe = Files.writeString(tmp.resolve("ip.json"), recipe("tiny").replace("\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"input_perturbation\": 0.1"));
        Path perturbed = tmp.resolve("perturbed");
        GenerateCommandTest.Run ip = run("train", "--recipe", perturbedRecipe.toString(), "--vae", out.toString(), "--out", perturbed.toString());
        assertEquals(0, ip.code(), ip.err());
        assertTrue(ip.out().contains("input perturbation 0.1"), ip.out());
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(second.resolve("unet/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(perturbed.resolve("unet/diffusion_pytorch_model.safetensors"))));

        GenerateCommandTest.Run noVae = run("train", "--recipe", r.toString(), "--vae", tmp.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(2, noVae.code(), noVae.err());
        assertTrue(noVae.err().contains("--vae") && noVae.err().contains("vae/config.json") && noVae.err().lines().count() == 1, noVae.err());
    }

    @Test
    void aRunWritesTheSameFilesOnOneThreadAsOnTwo(@TempDir Path tmp) throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed");
        Path r = Files.writeString(tmp.resolve("r.json"), recipe("tiny"));
        Path[] models = {tmp.resolve("two-threads"), tmp.resolve("one-thread")};
        int threads = Parallel.threads();
        try {
            for (int i = 0; i < 2; i++) {
                Parallel.setThreads(2 - i);
                GenerateCommandTest.Run run = run("train", "--recipe", r.toString(), "--out", models[i].toString());
                assertEquals(0, run.code(), run.err());
            }
        } finally {
            Parallel.setThreads(threads);
        }
        // every stage: the autoencoder's weight gradients reduce over thousands of pixel rows, in chunks the threads share
        for (String f : new String[]{"vae/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                "text_encoder/model.safetensors"}) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(models[0].resolve(f)), Files.readAllBytes(models[1].resolve(f))), f);
        }
    }

    @Test
    void perChannelLatentsAreStandardizedAndAStageRerunReproducesThem(@TempDir Path tmp) throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed");
        String perChannel = recipe("tiny").replace("\"dtype\": \"f16\",", "\"dtype\": \"f16\", \"latent_normalization\": \"per_channel\",");
        Path r = Files.writeString(tmp.resolve("r.json"), perChannel);
        Path out = tmp.resolve("model");
        GenerateCommandTest.Run first = run("train", "--recipe", r.toString(), "--out", out.toString());
        assertEquals(0, first.code(), first.err());
        assertTrue(first.out().contains("vae: per-channel latents: latents_mean ["), first.out());
        Config vae = Config.read(out.resolve("vae/config.json"));
        assertEquals(4, vae.getDoubles("latents_mean").length);
        assertEquals(4, vae.getDoubles("latents_std").length);
        assertEquals(1.0, vae.getDouble("scaling_factor"));
        for (double s : vae.getDoubles("latents_std")) assertTrue(s > 0, "std " + s);

        // rerun on the written autoencoder: its statistics are kept, and the diffusion stage comes out bit for bit
        Path second = tmp.resolve("second");
        assertEquals(0, run("train", "--recipe", r.toString(), "--vae", out.toString(), "--out", second.toString()).code());
        assertEquals(Files.readString(out.resolve("vae/config.json")), Files.readString(second.resolve("vae/config.json")));
        for (String f : new String[]{"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(out.resolve(f)), Files.readAllBytes(second.resolve(f))), f);
        }
        GenerateCommandTest.Run gen = run("generate", "--model", out.toString(), "--prompt", "a photo of a sneaker",
                "--steps", "2", "--width", "32", "--height", "32", "--out", tmp.resolve("x.png").toString(), "--quiet");
        assertEquals(0, gen.code(), gen.err());

        // an autoencoder's statistics define its UNet's latent space: a scaling_factor recipe on it keeps them
        Path plainRecipe = Files.writeString(tmp.resolve("p.json"), recipe("tiny"));
        Path kept = tmp.resolve("kept");
        assertEquals(0, run("train", "--recipe", plainRecipe.toString(), "--vae", out.toString(), "--out", kept.toString()).code());
        assertTrue(Files.readString(kept.resolve("vae/config.json")).contains("latents_mean"), "the autoencoder's own statistics are kept");
        // and a one-factor autoencoder gets them when a per-channel recipe runs on it
        Path plain = tmp.resolve("plain"), added = tmp.resolve("added");
        assertEquals(0, run("train", "--recipe", plainRecipe.toString(), "--out", plain.toString()).code());
        assertFalse(Files.readString(plain.resolve("vae/config.json")).contains("latents_mean"));
        GenerateCommandTest.Run add = run("train", "--recipe", r.toString(), "--vae", plain.toString(), "--out", added.toString());
        assertEquals(0, add.code(), add.err());
        assertTrue(add.out().contains("vae: per-channel latents"), add.out());
        assertEquals(1.0, Config.read(added.resolve("vae/config.json")).getDouble("scaling_factor"));
        assertEquals(4, Config.read(added.resolve("vae/config.json")).getDoubles("latents_std").length);
    }

    @Test
    void aBadRecipeIsAOneLineError(@TempDir Path tmp) throws IOException {
        String noSteps = rejection(tmp, "r.json", "\"diffusion\": {\"steps\": 2, \"batch\": 4, \"lr\": 1e-3, \"warmup\": 1, \"min_snr_gamma\": 5}", "\"diffusion\": {\"batch\": 4}");
        assertTrue(noSteps.contains("diffusion") && noSteps.contains("steps"), noSteps);
        String sampling = rejection(tmp, "s.json", "\"cfg_max_timestep\": 600", "\"cfg_max_timestep\": -1");
        assertTrue(sampling.contains("sampling_defaults") && sampling.contains("cfg_max_timestep"), sampling);
        String gamma = rejection(tmp, "g.json", "\"min_snr_gamma\": 5", "\"min_snr_gamma\": -1");
        assertTrue(gamma.contains("diffusion") && gamma.contains("min_snr_gamma"), gamma);
        String ema = rejection(tmp, "e.json", "\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"ema_alternatives\": [0.99, 1.5]");
        assertTrue(ema.contains("diffusion") && ema.contains("ema_alternatives") && ema.contains("1.5"), ema);
        // a decay above the warm-up's cap (1+t)/(10+t) would be the warm-up alone: with 2 steps anything above 0.25
        String warm = rejection(tmp, "w.json", "\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"ema_alternatives\": [0.2, 0.5]");
        assertTrue(warm.contains("ema_alternatives 0.5 never takes effect in 2 steps"), warm);
        String onVae = rejection(tmp, "v.json", "\"edge_weight\": 0.5}", "\"edge_weight\": 0.5, \"ema_alternatives\": [0.1]}");
        assertTrue(onVae.contains("decoder: ema_alternatives is for the diffusion stage only"), onVae);
        String latents = rejection(tmp, "l.json", "\"dtype\": \"f16\",", "\"dtype\": \"f16\", \"latent_normalization\": \"whiten\",");
        assertTrue(latents.contains("\"latent_normalization\" must be \"scaling_factor\" or \"per_channel\", got whiten"), latents);
        String perturbation = rejection(tmp, "p.json", "\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"input_perturbation\": -0.1");
        assertTrue(perturbation.contains("p.json diffusion: input_perturbation must be in [0, 1)"), perturbation);
        // a key the trainer does not know would train something else than the file says: a misspelt setting, a
        // stage of another build, a setting of the right name given as text
        String typo = rejection(tmp, "k.json", "\"min_snr_gamma\": 5", "\"min_snr_gama\": 5");
        assertTrue(typo.contains("k.json diffusion: unknown key \"min_snr_gama\"") && typo.contains("min_snr_gamma"), typo);
        String unknownStage = rejection(tmp, "u.json", "\"sampling_defaults\"",
                "\"decoder_generated\": {\"steps\": 2, \"batch\": 4, \"lr\": 1e-3, \"warmup\": 1},\n \"sampling_defaults\"");
        assertTrue(unknownStage.contains("u.json: unknown key \"decoder_generated\""), unknownStage);
        String notANumber = rejection(tmp, "t.json", "\"kl_weight\": 1e-4", "\"kl_weight\": \"1e-4\"");
        assertTrue(notANumber.contains("t.json vae: \"kl_weight\" must be a number"), notANumber);
        assertFalse(Files.exists(tmp.resolve("m")), "a rejected recipe writes nothing");

        GenerateCommandTest.Run missing = run("train", "--recipe", tmp.resolve("nope.json").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("nope.json"), missing.err());
    }

    /** Trains on the tiny recipe with {@code from} replaced by {@code to} in file {@code name}; the run must fail with one line, returned. */
    private static String rejection(Path tmp, String name, String from, String to) throws IOException {
        String text = recipe("tiny");
        assertTrue(text.contains(from), "the tiny recipe has " + from);
        Path r = Files.writeString(tmp.resolve(name), text.replace(from, to));
        GenerateCommandTest.Run res = run("train", "--recipe", r.toString(), "--out", tmp.resolve("m").toString());
        assertEquals(1, res.code(), res.err());
        assertEquals(1, res.err().lines().count(), res.err());
        return res.err();
    }

    private static String withFinetune(String recipe) {
        return recipe.replace("\"sampling_defaults\"",
                "\"diffusion_finetune\": {\"steps\": 2, \"batch\": 4, \"lr\": 5e-4, \"warmup\": 1, \"ema\": 0.5, \"min_snr_gamma\": 0},\n \"sampling_defaults\"");
    }

    @Test
    void theFinetuneContinuesTheDiffusionStageAndRerunsFromItsFolder(@TempDir Path tmp) throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed");
        Path plain = Files.writeString(tmp.resolve("plain.json"), recipe("tiny"));
        Path tuned = Files.writeString(tmp.resolve("tuned.json"), withFinetune(recipe("tiny")));
        Path a = tmp.resolve("a"), b = tmp.resolve("b"), c = tmp.resolve("c");
        assertEquals(0, run("train", "--recipe", plain.toString(), "--out", a.toString()).code());
        GenerateCommandTest.Run scratch = run("train", "--recipe", tuned.toString(), "--out", b.toString());
        assertEquals(0, scratch.code(), scratch.err());
        assertTrue(scratch.out().contains("diffusion_finetune: 2 steps of 4 latents, lr 5.00e-04, unweighted"), scratch.out());
        assertTrue(Files.exists(tmp.resolve("b.work/diffusion.log.jsonl")) && Files.exists(tmp.resolve("b.work/diffusion_finetune.log.jsonl")));
        // the fine-tune alone, on the text encoder and UNet of the run without it: the same files as from scratch
        GenerateCommandTest.Run alone = run("train", "--recipe", tuned.toString(), "--diffusion-from", a.toString(), "--out", c.toString());
        assertEquals(0, alone.code(), alone.err());
        assertTrue(alone.out().contains("diffusion stage skipped") && alone.out().contains("autoencoder stages skipped"), alone.out());
        assertFalse(Files.exists(tmp.resolve("c.work/diffusion.log.jsonl")));
        for (String f : new String[]{"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(b.resolve(f)), Files.readAllBytes(c.resolve(f))), f);
            assertFalse(java.util.Arrays.equals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f))), "the fine-tune changed " + f);
        }
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(a.resolve("vae/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(c.resolve("vae/diffusion_pytorch_model.safetensors"))));
        String provenance = Files.readString(c.resolve("recipe.json"));
        assertTrue(provenance.contains("\"diffusion_from\"") && provenance.contains("\"diffusion_finetune_steps\":2"), provenance);
        assertEquals(0, run("generate", "--model", c.toString(), "--prompt", "a photo of a sneaker", "--steps", "2",
                "--width", "32", "--height", "32", "--out", tmp.resolve("c.png").toString(), "--quiet").code());

        GenerateCommandTest.Run nothing = run("train", "--recipe", plain.toString(), "--diffusion-from", a.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(2, nothing.code(), nothing.err());
        assertTrue(nothing.err().contains("--diffusion-from") && nothing.err().contains("diffusion_finetune") && nothing.err().lines().count() == 1, nothing.err());
        GenerateCommandTest.Run noModel = run("train", "--recipe", tuned.toString(), "--diffusion-from", tmp.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(2, noModel.code(), noModel.err());
        assertTrue(noModel.err().contains("--diffusion-from") && noModel.err().lines().count() == 1, noModel.err());
        Path altTuned = Files.writeString(tmp.resolve("alt.json"), withFinetune(recipe("tiny")).replace("\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"ema_alternatives\": [0.1]"));
        GenerateCommandTest.Run alt = run("train", "--recipe", altTuned.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(1, alt.code());
        assertTrue(alt.err().contains("ema_alternatives cannot be used with diffusion_finetune") && alt.err().lines().count() == 1, alt.err());
        Path altInFinetune = Files.writeString(tmp.resolve("alt2.json"), withFinetune(recipe("tiny")).replace("\"min_snr_gamma\": 0}", "\"min_snr_gamma\": 0, \"ema_alternatives\": [0.1]}"));
        GenerateCommandTest.Run alt2 = run("train", "--recipe", altInFinetune.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(1, alt2.code());
        assertTrue(alt2.err().contains("diffusion_finetune: ema_alternatives is for the diffusion stage only") && alt2.err().lines().count() == 1, alt2.err());
    }

    @Test
    void stepOverridesChangeOnlyTheStagesTheyName(@TempDir Path tmp) throws IOException {
        Recipe r = Recipe.read(Path.of("recipes/mini.json"));
        Recipe quick = r.withSteps(10L, null, null);
        assertEquals(10, quick.vae().steps());
        assertEquals(r.decoder(), quick.decoder());
        assertEquals(r.decoderAdversarial(), quick.decoderAdversarial());
        assertEquals(r.diffusion(), quick.diffusion());
        Recipe decoders = r.withSteps(null, 7L, null);
        assertEquals(7, decoders.decoder().steps());
        assertEquals(7, decoders.decoderAdversarial().steps());
        assertEquals(r.vae(), decoders.vae());
        Path tuned = Files.writeString(tmp.resolve("tuned.json"), withFinetune(recipe("tiny")));
        Recipe t = Recipe.read(tuned), diffusion = t.withSteps(null, null, 9L);
        assertEquals(9, diffusion.diffusion().steps());
        assertEquals(9, diffusion.diffusionFinetune().steps(), "--diffusion-steps shortens the fine-tune too");
        assertEquals(t.diffusionFinetune(), t.withSteps(10L, null, null).diffusionFinetune());
        assertEquals(0.0, r.diffusion().inputPerturbation(), "off unless the recipe sets it");
        Recipe perturbed = Recipe.read(Files.writeString(tmp.resolve("ip.json"), recipe("tiny").replace("\"min_snr_gamma\": 5", "\"min_snr_gamma\": 5, \"input_perturbation\": 0.1")));
        assertEquals(0.1, perturbed.diffusion().inputPerturbation());
        assertEquals(0.1, perturbed.withSteps(null, null, 3L).diffusion().inputPerturbation(), "a step override keeps it");
        GenerateCommandTest.Run bad = run("train", "--recipe", "recipes/mini.json", "--vae-steps", "0");
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("--vae-steps") && bad.err().lines().count() == 1, bad.err());
    }
}
