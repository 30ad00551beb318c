package dev.edgediffuse.cli;

import dev.edgediffuse.tensor.DType;
import picocli.CommandLine.Option;

import java.util.Locale;

/** --dtype: the float type weights are written in. */
final class DTypeOption {
    @Option(names = "--dtype", paramLabel = "f32|f16|bf16", defaultValue = "f16", description = "stored weight type (default ${DEFAULT-VALUE})")
    private String dtype;

    DType dtype() {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new UsageException("--dtype must be f32, f16 or bf16, got '" + dtype + "'");
        };
    }
}
