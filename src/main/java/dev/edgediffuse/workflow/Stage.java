package dev.edgediffuse.workflow;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * One step of a compress recipe: a model → model pass (or, for calibrate, model → data about it) wrapping an existing
 * pass. A stage writes into {@link StageContext#out()}: a {@code model/} folder when it makes a new model, a
 * {@code quant/} folder when it makes calibration data. Adding a stage is one class and one line in {@link Stages}.
 */
public interface Stage {
    /** What a stage does to the model, for the order checks made before anything runs. */
    enum Effect {
        /** changes float weights or the architecture (prune, distill, lcm, lora-merge): must come before quantize */
        WEIGHTS,
        /** records calibration data of the current model (calibrate) */
        CALIBRATION,
        /** quantizes the weights (quantize) */
        QUANTIZE,
        /** changes only the sampling defaults (speedups) */
        SAMPLING
    }

    /** The name recipes use, e.g. "quantize". */
    String kind();

    Effect effect();

    /** Whether the stage reads the calibration of its input model (then a calibrate stage must come before it). */
    default boolean needsCalibration() {
        return false;
    }

    /** Training data that must exist before anything runs, or null. */
    default Path trainingData() {
        return null;
    }

    /** Whether it changes the sampling steps or scheduler (which a calibration was recorded for). */
    default boolean changesSampling() {
        return false;
    }

    /**
     * Extra identity for the cache key beyond the stage's settings: digests of files it reads (recipes, LoRAs). A
     * changed file makes the stage run again.
     */
    default Map<String, String> fileDigests() {
        return Map.of();
    }

    /** Runs the stage. */
    void run(StageContext ctx) throws IOException;
}
