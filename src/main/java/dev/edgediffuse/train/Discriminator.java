package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.FashionClassifier;
import dev.edgediffuse.model.FashionClassifierConfig;
import dev.edgediffuse.nn.FeatureMap;

/**
 * The adversary of the decoder fine-tune (as SD's VAE was trained against a PatchGAN): a small CNN whose
 * per-position logits are averaged into one realness score per image, trained from scratch here with the hinge
 * loss on real training images against the decoder's output. It never sees a class label.
 *
 * <p>Both players' gradients come from one backward pass: the discriminator scores a detached copy of the fakes
 * (its gradient reaches only its own weights), and the decoder's adversarial term goes through a frozen copy of the
 * discriminator's weights taken at the start of the step (its gradient reaches only the decoder).
 */
final class Discriminator {
    /** RGB 32×32 in, stages of 16/32/64 channels, average pooling, one score out. */
    static final FashionClassifierConfig CONFIG = new FashionClassifierConfig(FashionMnist.SIZE, 3, new int[]{16, 32, 64},
            new int[]{0, 1, 1}, 8, 1e-5, 1);

    private final Parameters live, frozen;
    private final FashionClassifier trained, fixed;
    private final double weight;
    private double lastLoss = Double.NaN;

    Discriminator(Parameters live, double weight) {
        this.live = live;
        this.frozen = live.copy();
        this.trained = new FashionClassifier(CONFIG, live.weights("discriminator"));
        this.fixed = new FashionClassifier(CONFIG, frozen.weights("discriminator (frozen copy)"));
        this.weight = weight;
    }

    static Parameters initialize(Rng rng) {
        return Parameters.initialize(FashionClassifier.tensorShapes(CONFIG), rng);
    }

    /** The decoder's adversarial loss (−weight · mean score of the fakes) and the root to seed with 1 in backward. */
    record Scored(double decoderLoss, float[] root) {}

    /**
     * Scores {@code fake} (recorded, from the decoder) and {@code real}, and records, as one step whose output is the
     * returned root, the gradients of both players plus {@code reconGrad} on the fakes.
     */
    Scored score(FeatureMap fake, float[] reconGrad, FeatureMap real) {
        frozen.copyFrom(live);
        int n = fake.batch();
        float[] fakeForDecoder = fixed.forwardLogits(fake);
        float[] realScores = trained.forwardLogits(real);
        float[] fakeScores = trained.forwardLogits(fake.with(fake.data().clone()));
        float[] gDecoder = new float[n], gReal = new float[n], gFake = new float[n];
        double decoderLoss = 0, discriminatorLoss = 0;
        for (int i = 0; i < n; i++) {
            decoderLoss -= weight * fakeForDecoder[i] / n;
            gDecoder[i] = (float) (-weight / n);
            discriminatorLoss += (Math.max(0, 1 - realScores[i]) + Math.max(0, 1 + fakeScores[i])) / n;
            gReal[i] = realScores[i] < 1 ? -1f / n : 0f;
            gFake[i] = fakeScores[i] > -1 ? 1f / n : 0f;
        }
        lastLoss = discriminatorLoss;
        float[] out = new float[1];
        Tape.record(out, (t, g) -> {
            t.accumulate(fake.data(), reconGrad);
            t.accumulate(fakeForDecoder, gDecoder);
            t.accumulate(realScores, gReal);
            t.accumulate(fakeScores, gFake);
        }, fake.data(), realScores, fakeScores);
        return new Scored(decoderLoss, out);
    }

    /** The hinge loss of the discriminator at the last step (NaN before the first). */
    double lastLoss() {
        return lastLoss;
    }
}
