package dev.edgediffuse.cli;

import dev.edgediffuse.train.Recipe;
import dev.edgediffuse.train.TextToImageTraining;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/** edgediffuse train: trains a text-to-image model (VAE, decoder fine-tune, then text encoder + UNet) from a recipe; resumable. */
final class TrainCommand {
    static final String HELP = """
            usage: edgediffuse train --recipe FILE [options]
              --out DIR              the diffusers folder to write (default: the recipe's name)
              --work DIR             checkpoints and logs; a rerun resumes from here (default: OUT.work)
              --vae DIR              use this diffusers folder's trained vae/ as it is and train only the
                                     text encoder and UNet on its latents (the autoencoder stages are skipped)
              --diffusion-from DIR   use this diffusers folder's text encoder and UNet as the diffusion stage's
                                     result and run only the recipe's diffusion_finetune (its VAE too,
                                     unless --vae names another)
              --vae-steps N          override the recipe's VAE steps (quick runs)
              --decoder-steps N      override the steps of both of the recipe's decoder fine-tunes
              --diffusion-steps N    override the steps of the diffusion stage and its fine-tune""";

    private TrainCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, Set.of("--recipe", "--out", "--work", "--vae", "--diffusion-from", "--vae-steps", "--decoder-steps",
                "--diffusion-steps"), Set.of());
        if (!a.has("--recipe")) throw new Args.UsageException("--recipe is required");
        Recipe recipe = Recipe.read(a.path("--recipe"));
        recipe = recipe.withSteps(steps(a, "--vae-steps"), steps(a, "--decoder-steps"), steps(a, "--diffusion-steps"));
        Path dir = a.has("--out") ? a.path("--out") : Path.of(recipe.name());
        Path work = a.has("--work") ? a.path("--work") : dir.resolveSibling(dir.getFileName() + ".work");
        Path diffusionFrom = a.has("--diffusion-from") ? a.path("--diffusion-from") : null;
        Path vae = a.has("--vae") ? a.path("--vae") : diffusionFrom;
        if (vae != null && !Files.isRegularFile(vae.resolve("vae/config.json"))) {
            throw new Args.UsageException((a.has("--vae") ? "--vae " : "--diffusion-from ") + vae
                    + ": no vae/config.json there (expected a diffusers folder)");
        }
        if (diffusionFrom != null) {
            if (recipe.diffusionFinetune() == null) {
                throw new Args.UsageException("--diffusion-from: the recipe has no diffusion_finetune stage, so there is nothing to train");
            }
            for (String f : new String[]{"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
                if (!Files.isRegularFile(diffusionFrom.resolve(f))) {
                    throw new Args.UsageException("--diffusion-from " + diffusionFrom + ": no " + f + " there (expected a diffusers folder)");
                }
            }
        }
        long t0 = System.nanoTime();
        try {
            new TextToImageTraining(recipe, dir, work, vae, diffusionFrom, out).run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.printf("trained %s in %.1f min%n", dir, (System.nanoTime() - t0) / 60e9);
        return 0;
    }

    /** A step-count override, or null when not given. */
    private static Long steps(Args a, String flag) {
        if (!a.has(flag)) return null;
        long n = a.getLong(flag, 0);
        if (n <= 0) throw new Args.UsageException(flag + " must be a positive number of steps, got " + n);
        return n;
    }
}
