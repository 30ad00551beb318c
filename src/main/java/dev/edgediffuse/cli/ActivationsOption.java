package dev.edgediffuse.cli;

import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Int8Activations;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.pipeline.Denoiser;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** --activations: float, or int8 simulated per tensor from the ranges convert --calibration stored in the model. */
final class ActivationsOption {
    @Option(names = "--activations", paramLabel = "float|int8", defaultValue = "float", description = "int8: fake-quantize every "
            + "quantized UNet layer's input to 8 bits per tensor from the model's calibrated ranges (W8A8/W4A8 quality; "
            + "simulated, not faster) (default ${DEFAULT-VALUE})")
    private String activations;

    String mode() {
        return activations;
    }

    Denoiser.Layers layers(Path model) {
        return switch (activations) {
            case "float" -> Denoiser.Layers.DENSE;
            case "int8" -> new Denoiser.Layers(new Int8Activations(ActivationRanges.read(model), LayerPolicy.DENSE), LayerPolicy.DENSE);
            default -> throw new UsageException("--activations must be float or int8, got '" + activations + "'");
        };
    }
}
