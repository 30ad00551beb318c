package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.Random;

/** What the pipeline needs of a VAE: UNet-space latents ↔ images in [-1, 1] (channels-last). */
public interface ImageAutoencoder {
    FeatureMap decode(FeatureMap latents);

    /** Image → UNet-space latents; a KL VAE samples its posterior with {@code rng}, as diffusers' img2img does. */
    FeatureMap encode(FeatureMap image, Random rng);

    /** Image → UNet-space latents from the posterior mean (deterministic; diffusers' {@code sample_mode="argmax"}). */
    FeatureMap encodeMean(FeatureMap image);

    int latentChannels();

    /** Image pixels per latent pixel along each side (8 for Stable Diffusion). */
    int downscale();

    /** Builds the autoencoder named by the config's {@code _class_name} (AutoencoderKL when absent). */
    static ImageAutoencoder create(Config config, Weights weights) {
        String cls = config.getString("_class_name", "AutoencoderKL");
        return switch (cls) {
            case "AutoencoderKL" -> new AutoencoderKL(config, weights);
            case "AutoencoderTiny" -> new TinyAutoencoder(config, weights);
            default -> throw new ModelFormatException(config.source() + ": unsupported VAE class " + cls
                    + " (AutoencoderKL or AutoencoderTiny)");
        };
    }
}
