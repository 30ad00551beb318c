package dev.edgediffuse.cli;

import dev.edgediffuse.distill.TinyDecoderDistillation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/** edgediffuse distill-vae: a tiny decoder (AutoencoderTiny layout) distilled from a model's VAE; resumable. */
@Command(name = "distill-vae", sortOptions = false,
        description = "a tiny decoder distilled from a model's VAE on the same latent space (recipes/mini-tiny-vae.json), for --vae; "
                + "a rerun resumes")
final class DistillVaeCommand extends CliCommand {
    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "the recipe: teacher, data, decoder config, stages")
    private Path recipeFile;

    @Option(names = "--out", paramLabel = "DIR", description = "the VAE folder to write (default: the recipe's name)")
    private Path outDir;

    @Option(names = "--work", paramLabel = "DIR", description = "checkpoints and logs; a rerun resumes from here (default: OUT.work)")
    private Path workDir;

    @Option(names = "--teacher", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "overrides the recipe's teacher")
    private String teacher;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        TinyDecoderDistillation.Settings s = TinyDecoderDistillation.Settings.read(recipeFile);
        threads.apply();
        Path dir = outDir != null ? outDir : Path.of(s.name());
        Path work = workDir != null ? workDir : dir.resolveSibling(dir.getFileName() + ".work");
        OutputFiles.outputOfLongRun(dir);
        long t0 = System.nanoTime();
        TinyDecoderDistillation.run(s, teacher, dir, work, out);
        out.printf("distilled %s in %.1f min%n", dir, (System.nanoTime() - t0) / 60e9);
        return 0;
    }
}
