package dev.edgediffuse.cli;

import dev.edgediffuse.qat.QatRecipe;
import dev.edgediffuse.qat.QuantizationAwareTraining;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/** edgediffuse qat: quantization-aware training of a UNet against its float teacher, exported to the runtime's formats; resumable. */
@Command(name = "qat", sortOptions = false,
        description = "quantization-aware training: a UNet fine-tuned through fake-quantized weights (and 8-bit inputs) with its float "
                + "original as teacher, written in the runtime's q8/q4 formats, from a recipe (recipes/mini-qat-w4a16.json); a rerun resumes")
final class QatCommand extends CliCommand {
    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "the recipe: teacher, data, formats, loss, stage")
    private Path recipeFile;

    @Option(names = "--out", paramLabel = "DIR", description = "the model folder to write (default: the recipe's name)")
    private Path outDir;

    @Option(names = "--work", paramLabel = "DIR", description = "checkpoints and log; a rerun resumes from here (default: OUT.work)")
    private Path workDir;

    @Option(names = "--teacher", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "overrides the recipe's float teacher")
    private String teacher;

    @Option(names = "--model", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "the model to quantize, of the teacher's architecture (default: the recipe's, else the teacher)")
    private String model;

    @Option(names = "--steps", paramLabel = "N", description = "overrides the recipe's steps (quick runs)")
    private Long steps;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        QatRecipe recipe = QatRecipe.read(recipeFile);
        if (steps != null) {
            if (steps <= 0) throw new UsageException("--steps must be a positive number of steps, got " + steps);
            recipe = recipe.withSteps(steps);
        }
        threads.apply();
        Path dir = outDir != null ? outDir : Path.of(recipe.name());
        Path work = workDir != null ? workDir : dir.resolveSibling(dir.getFileName() + ".work");
        OutputFiles.outputOfLongRun(dir);
        long t0 = System.nanoTime();
        new QuantizationAwareTraining(recipe, dir, work, teacher, model, out).run();
        out.printf("trained %s in %.1f min%n", dir, (System.nanoTime() - t0) / 60e9);
        return 0;
    }
}
