package dev.edgediffuse.cli;

import dev.edgediffuse.distill.DistillObjective;
import dev.edgediffuse.distill.DistillRecipe;
import dev.edgediffuse.distill.Distillation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** edgediffuse distill: prunes a student from a teacher and trains it by knowledge distillation (BK-SDM); resumable. */
@Command(name = "distill", sortOptions = false,
        description = "a student pruned from a teacher and trained to match it (task + output + feature distillation), from a "
                + "recipe (recipes/mini-small.json); a rerun resumes")
final class DistillCommand extends CliCommand {
    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "the recipe: teacher, data, pruning, loss, stage")
    private Path recipeFile;

    @Option(names = "--out", paramLabel = "DIR", description = "the model folder to write (default: the recipe's name)")
    private Path outDir;

    @Option(names = "--work", paramLabel = "DIR", description = "the pruned student, checkpoints and log; a rerun resumes from here (default: OUT.work)")
    private Path workDir;

    @Option(names = "--teacher", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "overrides the recipe's teacher")
    private String teacher;

    @Option(names = "--student", paramLabel = "DIR", description = "start from this pruned model folder instead of the recipe's pruning")
    private Path student;

    @Option(names = "--loss", paramLabel = "T,O,F", split = ",", hideParamSyntax = true,
            description = "overrides the recipe's loss weights: task, output KD, feature KD (1,0,0: the ablation without distillation)")
    private double[] loss;

    @Option(names = "--steps", paramLabel = "N", description = "overrides the recipe's steps (quick runs)")
    private Long steps;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        DistillRecipe recipe = DistillRecipe.read(recipeFile);
        if (steps != null) {
            if (steps <= 0) throw new UsageException("--steps must be a positive number of steps, got " + steps);
            recipe = recipe.withSteps(steps);
        }
        if (loss != null) {
            if (loss.length != 3) throw new UsageException("--loss needs three weights T,O,F, got " + loss.length);
            for (double w : loss) if (!(w >= 0)) throw new UsageException("--loss weights must be >= 0, got " + w);
            if (loss[0] + loss[1] + loss[2] == 0) throw new UsageException("--loss weights cannot all be 0");
            recipe = recipe.withLoss(new DistillObjective.Weights(loss[0], loss[1], loss[2]));
        }
        if (student != null && !Files.isRegularFile(student.resolve("unet/config.json"))) {
            throw new UsageException("--student " + student + ": no unet/config.json there (expected a model folder, e.g. from prune)");
        }
        threads.apply();
        Path dir = outDir != null ? outDir : Path.of(recipe.name());
        Path work = workDir != null ? workDir : dir.resolveSibling(dir.getFileName() + ".work");
        OutputFiles.outputOfLongRun(dir);
        long t0 = System.nanoTime();
        new Distillation(recipe, dir, work, teacher, student, out).run();
        out.printf("distilled %s in %.1f min%n", dir, (System.nanoTime() - t0) / 60e9);
        return 0;
    }
}
