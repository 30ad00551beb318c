package dev.edgediffuse.cli;

import dev.edgediffuse.compress.Calibration;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** --calibration: the folder a model's calibration data and sensitivity table live in (default beside the model). */
final class CalibrationOption {
    @Option(names = "--calibration", paramLabel = "DIR", description = "folder of the model's calibration.safetensors and "
            + "sensitivity.tsv (default: beside the model, <model>.quant)")
    private Path dir;

    Path dir(Path model) {
        return dir != null ? dir : Calibration.defaultDir(model);
    }

    boolean given() {
        return dir != null;
    }
}
