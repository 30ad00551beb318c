package dev.edgediffuse.cli;

import dev.edgediffuse.train.Recipe;
import dev.edgediffuse.train.TextToImageTraining;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** edgediffuse train: trains a text-to-image model (VAE, decoder fine-tune, then text encoder + UNet) from a recipe; resumable. */
@Command(name = "train", sortOptions = false,
        description = "train a text-to-image model from a recipe (recipes/mini.json: EdgeDiffuse-Mini); a rerun resumes")
final class TrainCommand extends CliCommand {
    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "the recipe: stages, data, architecture")
    private Path recipeFile;

    @Option(names = "--out", paramLabel = "DIR", description = "the diffusers folder to write (default: the recipe's name)")
    private Path outDir;

    @Option(names = "--work", paramLabel = "DIR", description = "checkpoints and logs; a rerun resumes from here (default: OUT.work)")
    private Path workDir;

    @Option(names = "--vae", paramLabel = "DIR", description = "use this diffusers folder's trained vae/ as it is and train only the "
            + "text encoder and UNet on its latents (the autoencoder stages are skipped)")
    private Path vaeFrom;

    @Option(names = "--diffusion-from", paramLabel = "DIR", description = "use this diffusers folder's text encoder and UNet as the "
            + "diffusion stage's result and run only the recipe's diffusion_finetune (its VAE too, unless --vae names another)")
    private Path diffusionFrom;

    @Option(names = "--vae-steps", paramLabel = "N", description = "override the recipe's VAE steps (quick runs)")
    private Long vaeSteps;

    @Option(names = "--decoder-steps", paramLabel = "N", description = "override the steps of both of the recipe's decoder fine-tunes")
    private Long decoderSteps;

    @Option(names = "--diffusion-steps", paramLabel = "N", description = "override the steps of the diffusion stage and its fine-tune")
    private Long diffusionSteps;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        Recipe recipe = Recipe.read(recipeFile)
                .withSteps(positive("--vae-steps", vaeSteps), positive("--decoder-steps", decoderSteps), positive("--diffusion-steps", diffusionSteps));
        Path dir = outDir != null ? outDir : Path.of(recipe.name());
        Path work = workDir != null ? workDir : dir.resolveSibling(dir.getFileName() + ".work");
        Path vae = vaeFrom != null ? vaeFrom : diffusionFrom;
        if (vae != null && !Files.isRegularFile(vae.resolve("vae/config.json"))) {
            throw new UsageException((vaeFrom != null ? "--vae " : "--diffusion-from ") + vae + ": no vae/config.json there (expected a diffusers folder)");
        }
        if (diffusionFrom != null) {
            if (recipe.diffusionFinetune() == null) {
                throw new UsageException("--diffusion-from: the recipe has no diffusion_finetune stage, so there is nothing to train");
            }
            for (String f : new String[]{"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
                if (!Files.isRegularFile(diffusionFrom.resolve(f))) {
                    throw new UsageException("--diffusion-from " + diffusionFrom + ": no " + f + " there (expected a diffusers folder)");
                }
            }
        }
        long t0 = System.nanoTime();
        new TextToImageTraining(recipe, dir, work, vae, diffusionFrom, out).run();
        out.printf("trained %s in %.1f min%n", dir, (System.nanoTime() - t0) / 60e9);
        return 0;
    }

    /** A step-count override, checked; null when not given. */
    private static Long positive(String option, Long steps) {
        if (steps != null && steps <= 0) throw new UsageException(option + " must be a positive number of steps, got " + steps);
        return steps;
    }
}
