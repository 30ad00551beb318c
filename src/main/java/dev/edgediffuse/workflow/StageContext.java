package dev.edgediffuse.workflow;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * What a stage runs on: its input model, the calibration recorded on that model (or null), the model before the
 * previous stage and that stage's kind (a distill stage after a prune stage trains the pruned model against it), the
 * folder it writes ({@code out}, made visible only when it returns), a folder that survives a kill for resumable
 * training ({@code work}), and a log for progress (may be null).
 */
public record StageContext(Path input, Path calibration, Path previousInput, String previousKind, Path out, Path work, PrintStream log) {
    public static final String MODEL = "model", QUANT = "quant";

    public Path modelOut() {
        return out.resolve(MODEL);
    }

    public Path quantOut() {
        return out.resolve(QUANT);
    }
}
