package dev.edgediffuse.workflow;

import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.qat.QatRecipe;
import dev.edgediffuse.qat.QuantizationAwareTraining;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;

/**
 * qat: quantization-aware training of the current model against itself in float, from a QAT recipe ({@code recipe};
 * optional {@code steps}); it takes quantize's place. With int8 activations its ranges start from the calibrate stage
 * before it, so the recipe's own "calibration" is replaced by that stage's file.
 */
final class QatStage implements Stage {
    private final Path recipeFile;
    private final QatRecipe recipe;

    QatStage(StageSpec s, Path dataOverride) {
        recipeFile = s.file("recipe", true);
        QatRecipe r;
        try {
            r = QatRecipe.read(recipeFile);
        } catch (RuntimeException e) {
            throw s.error(e.getMessage());
        }
        Integer steps = s.integer("steps", null, 1, Integer.MAX_VALUE);
        if (steps != null) r = r.withSteps(steps);
        if (dataOverride != null) r = with(r, dataOverride, r.calibration());
        recipe = r;
    }

    private static QatRecipe with(QatRecipe r, Path data, Path calibration) {
        return new QatRecipe(r.name(), r.teacher(), r.model(), data, r.images(), r.seed(), r.checkpointSeconds(), r.dtype(), r.weights(),
                r.int8Activations(), calibration, r.trainWeights(), r.clip(), r.taskWeight(), r.outputWeight(), r.stage(), r.tome());
    }

    @Override
    public String kind() {
        return "qat";
    }

    @Override
    public Effect effect() {
        return Effect.QUANTIZE;
    }

    @Override
    public boolean needsCalibration() {
        return recipe.int8Activations();
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
        QatRecipe r = recipe.int8Activations() ? with(recipe, recipe.data(), ctx.calibration().resolve(Calibration.FILE)) : recipe;
        String model = ctx.input().toString();
        PrintStream log = ctx.log() != null ? ctx.log() : new PrintStream(OutputStream.nullOutputStream());
        new QuantizationAwareTraining(r, ctx.modelOut(), ctx.work(), model, model, log).run();
    }
}
