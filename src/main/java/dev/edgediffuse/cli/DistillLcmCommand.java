package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.train.LcmDistillation;
import dev.edgediffuse.train.LcmRecipe;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/** edgediffuse distill-lcm: a latent consistency model (or LCM-LoRA) distilled from a teacher, from a recipe; resumable. */
@Command(name = "distill-lcm", sortOptions = false,
        description = "latent consistency distillation from a recipe (recipes/mini-lcm.json): a 2-8 step student, or an LCM-LoRA; a rerun resumes")
final class DistillLcmCommand extends CliCommand {
    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "the recipe: teacher, data, mode (full or lora), guidance range, steps")
    private Path recipeFile;

    @Option(names = "--teacher", paramLabel = "DIR|FILE|NAME", description = "override the recipe's teacher (a model path or built-in name)")
    private String teacher;

    @Option(names = "--out", paramLabel = "PATH", description = "the diffusers folder (full) or LoRA .safetensors (lora) to write (default: the recipe's name)")
    private Path out;

    @Option(names = "--work", paramLabel = "DIR", description = "checkpoint and log; a rerun resumes from here (default: OUT.work)")
    private Path workDir;

    @Option(names = "--steps", paramLabel = "N", description = "override the recipe's steps (quick runs)")
    private Long steps;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream stdout, PrintStream err) throws IOException {
        threads.apply();
        LcmRecipe recipe = LcmRecipe.read(recipeFile);
        if (steps != null) {
            if (steps < 1) throw new UsageException("--steps must be >= 1, got " + steps);
            recipe = recipe.withSteps(steps);
        }
        Path target = out != null ? out : Path.of(recipe.lora() ? recipe.name() + ".safetensors" : recipe.name());
        Path work = workDir != null ? workDir : target.resolveSibling(target.getFileName() + ".work");
        OutputFiles.outputOfLongRun(target);
        Path teacherPath = BuiltInModel.resolve(teacher != null ? teacher : recipe.teacher(), err);
        try (Checkpoint cp = Checkpoint.open(teacherPath, null)) {
            double seconds = new LcmDistillation(recipe, cp, target, work, stdout).run();
            stdout.printf("distilled %s from %s in %.1f min%n", target, cp.name, seconds / 60);
        }
        return 0;
    }
}
