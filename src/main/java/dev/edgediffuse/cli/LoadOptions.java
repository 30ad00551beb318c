package dev.edgediffuse.cli;

import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.pipeline.Pipeline;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** How a model is loaded ({@link Pipeline.Options}): configs for a single file, another VAE, low-memory decoding, LoRAs. */
final class LoadOptions {
    @Option(names = "--config", paramLabel = "DIR", description = "component configs for a single-file checkpoint (default: SD1.5's)")
    private Path config;

    @Option(names = "--vae", paramLabel = "DIR", description = "replacement VAE folder (AutoencoderKL, or AutoencoderTiny: TAESD)")
    private Path vae;

    @Option(names = "--low-memory", description = "decode the VAE in 288-pixel tiles (the launcher then runs generate and bench in a 280 MB heap)")
    private boolean lowMemory;

    @Mixin
    private LoraOptions loras;

    Pipeline.Options options() {
        return new Pipeline.Options(config, vae, lowMemory, loras.settings(LoraMode.AUTO));
    }
}
