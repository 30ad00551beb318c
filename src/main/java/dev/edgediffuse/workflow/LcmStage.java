package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.train.LcmDistillation;
import dev.edgediffuse.train.LcmRecipe;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * lcm: latent consistency distillation of the current model from an LCM recipe ({@code recipe}, mode full; optional
 * {@code steps}): a few-step student whose sampling defaults come from that recipe.
 */
final class LcmStage implements Stage {
    private final Path recipeFile;
    private final LcmRecipe recipe;

    LcmStage(StageSpec s, Path dataOverride) {
        recipeFile = s.file("recipe", true);
        LcmRecipe r;
        try {
            r = LcmRecipe.read(recipeFile);
        } catch (RuntimeException e) {
            throw s.error(e.getMessage());
        }
        if (r.lora()) throw s.error(recipeFile + " is an LCM-LoRA recipe (mode lora): the lcm stage needs mode full");
        Integer steps = s.integer("steps", null, 1, Integer.MAX_VALUE);
        if (steps != null) r = r.withSteps(steps);
        if (dataOverride != null) r = r.withData(dataOverride);
        recipe = r;
    }

    @Override
    public String kind() {
        return "lcm";
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
    public boolean changesSampling() {
        return true;
    }

    @Override
    public Map<String, String> fileDigests() {
        return Map.of("recipe", Digests.file(recipeFile), "data", recipe.data().toString());
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        try (Checkpoint teacher = Checkpoint.open(ctx.input(), null)) {
            new LcmDistillation(recipe, teacher, ctx.modelOut(), ctx.work(), ctx.log()).run();
        }
    }
}
