package dev.edgediffuse.workflow;

import dev.edgediffuse.distill.DistillRecipe;
import dev.edgediffuse.distill.Distillation;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * distill: knowledge distillation from a distill recipe ({@code recipe}, relative to the compress recipe; optional
 * {@code steps} to shorten it). Right after a prune stage, the pruned model is the student and the prune stage's input
 * the teacher; otherwise the current model is the teacher and the distill recipe's own pruning makes the student.
 */
final class DistillStage implements Stage {
    private final Path recipeFile;
    private final DistillRecipe recipe;

    DistillStage(StageSpec s, Path dataOverride) {
        recipeFile = s.file("recipe", true);
        DistillRecipe r;
        try {
            r = DistillRecipe.read(recipeFile);
        } catch (RuntimeException e) {
            throw s.error(e.getMessage());
        }
        Integer steps = s.integer("steps", null, 1, Integer.MAX_VALUE);
        if (steps != null) r = r.withSteps(steps);
        if (dataOverride != null) {
            r = new DistillRecipe(r.name(), r.teacher(), dataOverride, r.images(), r.seed(), r.checkpointSeconds(), r.dtype(), r.student(),
                    r.loss(), r.distill(), r.samplingDefaults());
        }
        recipe = r;
    }

    @Override
    public String kind() {
        return "distill";
    }

    @Override
    public Effect effect() {
        return Effect.WEIGHTS;
    }

    @Override
    public Path trainingData() {
        return recipe.data();
    }

    @Override
    public Map<String, String> fileDigests() {
        return Map.of("recipe", Digests.file(recipeFile), "data", recipe.data().toString());
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        boolean afterPrune = "prune".equals(ctx.previousKind());
        Path teacher = afterPrune ? ctx.previousInput() : ctx.input();
        new Distillation(recipe, ctx.modelOut(), ctx.work(), teacher.toString(), afterPrune ? ctx.input() : null, ctx.log()).run();
    }
}
