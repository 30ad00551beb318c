package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Fine-tunes the VAE's decoder on the frozen encoder's posterior samples (as SD's ft-MSE decoder was made): the
 * latent space, and so every UNet trained on it, stays valid while the decoder learns to draw sharper images.
 * The latents come precomputed in the encoder's own (unscaled) space. With a {@link Discriminator}, an adversarial
 * term joins the reconstruction loss: pixel losses regress to the blurred mean of what a latent could be, the
 * adversary penalizes blur itself.
 */
public final class DecoderObjective implements TrainingLoop.Objective {
    private final UnaryOperator<FeatureMap> decoder, teacher;
    private final FashionMnist data;
    private final LatentDataset latents;
    private final Batches batches;
    private final double edgeWeight;
    private final long seed;
    private final Discriminator discriminator;

    public DecoderObjective(AutoencoderKL vae, FashionMnist data, LatentDataset latents, int batch, double edgeWeight, long seed) {
        this(vae::decodeRaw, null, data, latents, batch, edgeWeight, seed, null);
    }

    DecoderObjective(AutoencoderKL vae, FashionMnist data, LatentDataset latents, int batch, double edgeWeight, long seed,
                     Discriminator discriminator) {
        this(vae::decodeRaw, null, data, latents, batch, edgeWeight, seed, discriminator);
    }

    /**
     * Any decoder (recorded) of {@code latents}, against {@code teacher}'s decoding of the same latents (run without
     * recording: a decoder distilled from another) or, when {@code teacher} is null, against the images themselves;
     * the discriminator (nullable) always sees the real images as real.
     */
    public DecoderObjective(UnaryOperator<FeatureMap> decoder, UnaryOperator<FeatureMap> teacher, FashionMnist data, LatentDataset latents,
                            int batch, double edgeWeight, long seed, Discriminator discriminator) {
        if (latents.count() != data.count()) throw new IllegalArgumentException(latents.count() + " latents for " + data.count() + " images");
        this.decoder = decoder;
        this.teacher = teacher;
        this.data = data;
        this.latents = latents;
        this.batches = new Batches(data.count(), batch, seed);
        this.edgeWeight = edgeWeight;
        this.seed = seed;
        this.discriminator = discriminator;
    }

    @Override
    public double step(Tape tape, long step) {
        Rng rng = TrainingLoop.rngFor(seed, step);
        int[] idx = batches.indices(step);
        FeatureMap z = new FeatureMap(latents.sample(idx, rng), idx.length, latents.height(), latents.width(), latents.channels());
        float[] target = null;
        if (teacher != null) {
            try (Tape.NoGradient ignored = Tape.noGradient()) {
                target = teacher.apply(z).data().clone();
            }
        }
        FeatureMap recon = decoder.apply(z);
        float[] grad = new float[recon.data().length];
        FeatureMap real = Batches.images(data, idx);
        double loss = ReconstructionLoss.l1WithEdges(recon, target != null ? target : real.data(), edgeWeight, grad);
        if (discriminator == null) {
            tape.backward(recon.data(), grad);
            return loss;
        }
        Discriminator.Scored scored = discriminator.score(recon, grad, real);
        tape.backward(scored.root(), new float[]{1f});
        return loss + scored.decoderLoss();
    }

    /**
     * With a discriminator, its hinge loss at the last step, logged to watch the game: 2 when it scores every image
     * 0, 0 when it separates reals from fakes by the full margin.
     */
    @Override
    public Map<String, Double> lastMetrics() {
        return discriminator == null ? Map.of() : Map.of("discriminator_loss", discriminator.lastLoss());
    }
}
