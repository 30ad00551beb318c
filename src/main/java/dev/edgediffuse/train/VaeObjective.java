package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * AutoencoderKL training: L1 reconstruction of the image from a posterior sample z = μ + σ·ε, plus a small KL
 * term toward N(0, I) that keeps the latent space smooth for the diffusion model (as SD's VAE was trained, minus
 * the perceptual and adversarial terms).
 */
public final class VaeObjective implements TrainingLoop.Objective {
    private final AutoencoderKL vae;
    private final FashionMnist data;
    private final Batches batches;
    private final double klWeight;
    private final long seed;

    public VaeObjective(AutoencoderKL vae, FashionMnist data, int batch, double klWeight, long seed) {
        this.vae = vae;
        this.data = data;
        this.batches = new Batches(data.count(), batch, seed);
        this.klWeight = klWeight;
        this.seed = seed;
    }

    @Override
    public double step(Tape tape, long step) {
        Rng rng = TrainingLoop.rngFor(seed, step);
        FeatureMap x = Batches.images(data, batches.indices(step));
        FeatureMap moments = vae.moments(x);
        int l = vae.latentChannels(), cells = moments.batch() * moments.pixels();
        float[] eps = new float[cells * l];
        for (int i = 0; i < eps.length; i++) eps[i] = rng.nextGaussian();
        double[] kl = new double[1];
        float[] z = sample(moments.data(), eps, cells, l, kl);
        FeatureMap recon = vae.decodeRaw(new FeatureMap(z, moments.batch(), moments.height(), moments.width(), l));
        float[] grad = new float[recon.data().length];
        double loss = ReconstructionLoss.l1WithEdges(recon, x.data(), 0, grad);
        tape.backward(recon.data(), grad);
        return loss + klWeight * kl[0];
    }

    /**
     * The reparameterized sample, recorded with a backward that also adds the KL term's gradient
     * (KL per element = ½(μ² + σ² − 1 − log σ²), averaged over latent elements).
     */
    private float[] sample(float[] m, float[] eps, int cells, int l, double[] kl) {
        float[] z = new float[cells * l];
        double klSum = 0;
        for (int p = 0; p < cells; p++)
            for (int c = 0; c < l; c++) {
                float mu = m[p * 2 * l + c], lv = clampLogVar(m[p * 2 * l + l + c]);
                z[p * l + c] = mu + (float) Math.exp(0.5 * lv) * eps[p * l + c];
                klSum += 0.5 * (mu * mu + Math.exp(lv) - 1 - lv);
            }
        int n = cells * l;
        kl[0] = klSum / n;
        Tape.record(z, (t, dz) -> {
            float[] dm = new float[m.length];
            float w = (float) (klWeight / n);
            for (int p = 0; p < cells; p++)
                for (int c = 0; c < l; c++) {
                    float raw = m[p * 2 * l + l + c], lv = clampLogVar(raw), sigma = (float) Math.exp(0.5 * lv);
                    dm[p * 2 * l + c] = dz[p * l + c] + w * m[p * 2 * l + c];
                    boolean inRange = raw == lv;
                    dm[p * 2 * l + l + c] = inRange ? dz[p * l + c] * eps[p * l + c] * 0.5f * sigma + w * 0.5f * (sigma * sigma - 1) : 0f;
                }
            t.accumulate(m, dm);
        }, m);
        return z;
    }

    private static float clampLogVar(float v) {
        return Math.max(-30f, Math.min(20f, v));
    }
}
