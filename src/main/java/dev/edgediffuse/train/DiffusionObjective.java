package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tokenizer.ClipTokenizer;

/**
 * Joint text-encoder + UNet training on ε-prediction, as Stable Diffusion was trained: a posterior sample of the
 * image's latent is noised to a uniformly drawn timestep of the model's own (scaled_linear) schedule, and the UNet,
 * conditioned on the caption's text states, predicts the noise (MSE). Captions are dropped to the empty prompt at
 * {@code dropout} so the same model also gives the unconditional prediction classifier-free guidance needs.
 * With {@code minSnrGamma} > 0 each sample's error is weighted by min(SNR, γ) / SNR (Min-SNR-γ, Hang et al. 2023):
 * measured on the clean image, the ε-error weights each timestep by its SNR, and the weight caps that at γ, so the
 * nearly clean timesteps no longer dominate the gradient.
 * With {@code inputPerturbation} γ > 0 the UNet sees the latent noised with ε + γ·ξ (ξ a second standard normal draw)
 * while it is still asked for ε (Ning et al. 2023, "input perturbation"; diffusers' --input_perturbation): training
 * inputs then stray from the forward process as sampling's own inputs do, whose errors pile up step after step
 * (exposure bias). At 0 no second draw is taken, so the random stream is the unperturbed objective's.
 * The returned loss stays the plain MSE, so logs of weighted and unweighted runs compare.
 */
public final class DiffusionObjective implements TrainingLoop.Objective {
    /** The caption of training image {@code index}, drawn with the step's random numbers when there are several. */
    @FunctionalInterface
    public interface CaptionSource {
        String caption(int index, Rng rng);
    }

    private final UNet2DConditionModel unet;
    private final ClipTextModel text;
    private final LatentDataset latents;
    private final CaptionSource captions;
    /** Token id → the vector that stands for it while it is learnt (new words), else empty; used multiplied by vectorScale. */
    private final java.util.Map<Integer, float[]> tokenVectors;
    private final float vectorScale;
    private final ClipTokenizer tokenizer;
    private final java.util.Map<String, int[]> captionIds = new java.util.HashMap<>();
    private final int[] emptyIds;
    private final float[] alphasCumprod;
    private final Batches batches;
    private final double dropout;
    private final double minSnrGamma;
    private final double inputPerturbation;
    private final long seed;

    /** Fashion-MNIST: a random caption of each image's class (see {@link Captions#random}). */
    public DiffusionObjective(UNet2DConditionModel unet, ClipTextModel text, LatentDataset latents, int[] labels,
                              ClipTokenizer tokenizer, float[] alphasCumprod, int batch, double dropout, double minSnrGamma,
                              double inputPerturbation, long seed) {
        this(unet, text, latents, (i, rng) -> Captions.random(labels[i], rng::nextInt), java.util.Map.of(), 1f, tokenizer, alphasCumprod,
                batch, dropout, minSnrGamma, inputPerturbation, seed);
    }

    public DiffusionObjective(UNet2DConditionModel unet, ClipTextModel text, LatentDataset latents, CaptionSource captions,
                              java.util.Map<Integer, float[]> tokenVectors, float vectorScale, ClipTokenizer tokenizer, float[] alphasCumprod,
                              int batch, double dropout, double minSnrGamma, double inputPerturbation, long seed) {
        this.unet = unet;
        this.text = text;
        this.latents = latents;
        this.captions = captions;
        this.tokenVectors = tokenVectors;
        this.vectorScale = vectorScale;
        this.alphasCumprod = alphasCumprod;
        this.batches = new Batches(latents.count(), batch, seed);
        this.dropout = dropout;
        this.minSnrGamma = minSnrGamma;
        this.inputPerturbation = inputPerturbation;
        this.seed = seed;
        this.tokenizer = tokenizer;
        this.emptyIds = tokenizer.encode("");
    }

    /** A caption's token ids, tokenized once. */
    private int[] ids(String caption) {
        return captionIds.computeIfAbsent(caption, tokenizer::encode);
    }

    /** The Min-SNR-γ loss weight of ε-prediction at a timestep with the given ᾱ; 1 when γ is 0 (off). */
    public static double minSnrWeight(double alphaCumprod, double gamma) {
        if (gamma == 0) return 1;
        double snr = alphaCumprod / (1 - alphaCumprod);
        return Math.min(snr, gamma) / snr;
    }

    /**
     * Noises {@code n} values of {@code z0} from {@code offset} to the timestep of cumulative ᾱ {@code alphaCumprod}:
     * {@code noise} gets the target ε, {@code noisy} √ᾱ·z0 + √(1−ᾱ)·(ε + γ·ξ), with ε and ξ drawn per value in turn
     * (ξ only when γ > 0).
     */
    public static void addNoise(float[] z0, int offset, int n, float alphaCumprod, double inputPerturbation, Rng rng, float[] noise, float[] noisy) {
        double a = Math.sqrt(alphaCumprod), s = Math.sqrt(1 - alphaCumprod);
        for (int i = offset; i < offset + n; i++) {
            float e = rng.nextGaussian();
            noise[i] = e;
            double shown = inputPerturbation > 0 ? e + inputPerturbation * rng.nextGaussian() : e;
            noisy[i] = (float) (a * z0[i] + s * shown);
        }
    }

    @Override
    public double step(Tape tape, long step) {
        Rng rng = TrainingLoop.rngFor(seed, step);
        int[] idx = batches.indices(step);
        int b = idx.length, size = latents.pixels() * latents.channels();
        float[] z0 = latents.sample(idx, rng);
        float[] noise = new float[b * size], noisy = new float[b * size], timesteps = new float[b];
        double[] weight = new double[b];
        int[][] ids = new int[b][];
        for (int j = 0; j < b; j++) {
            int t = rng.nextInt(alphasCumprod.length);
            timesteps[j] = t;
            weight[j] = minSnrWeight(alphasCumprod[t], minSnrGamma);
            addNoise(z0, j * size, size, alphasCumprod[t], inputPerturbation, rng, noise, noisy);
            String caption = captions.caption(idx[j], rng);
            ids[j] = rng.nextDouble() < dropout ? emptyIds : ids(caption);
        }
        float[] context = text.encode(ids, 0, tokenVectors, vectorScale);
        FeatureMap x = new FeatureMap(noisy, b, latents.height(), latents.width(), latents.channels());
        float[] pred = unet.predict(x, timesteps, context, ids[0].length).data();
        float[] grad = new float[pred.length];
        double sq = 0;
        for (int i = 0; i < pred.length; i++) {
            double d = pred[i] - noise[i];
            sq += d * d;
            grad[i] = (float) (2 * d * weight[i / size] / pred.length);
        }
        tape.backward(pred, grad);
        return sq / pred.length;
    }
}
