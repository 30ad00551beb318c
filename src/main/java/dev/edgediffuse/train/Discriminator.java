package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.ArrayList;
import java.util.List;

/**
 * The adversary of the decoder fine-tune (as SD's VAE was trained against a PatchGAN): a small CNN whose
 * per-position logits are averaged into one realness score per image, trained from scratch here with the hinge
 * loss on real training images against the decoder's output. It never sees a class label. Optionally its stage
 * activations also serve the decoder as a learned perceptual loss (feature matching): a pixel loss cannot say which
 * texture is right, the discriminator's features can, and they keep the decoder's gradient informative when the
 * discriminator wins the game outright (as it did in a 5,000-step stage without them).
 *
 * <p>Both players' gradients come from one backward pass: the discriminator scores a detached copy of the fakes
 * (its gradient reaches only its own weights), and the decoder's adversarial term goes through a frozen copy of the
 * discriminator's weights taken at the start of the step (its gradient reaches only the decoder).
 */
public final class Discriminator {
    /** RGB 32×32 in, stages of 16/32/64 channels, average pooling, one score out. */
    static final FashionClassifierConfig CONFIG = new FashionClassifierConfig(FashionMnist.SIZE, 3, new int[]{16, 32, 64},
            new int[]{0, 1, 1}, 8, 1e-5, 1);

    private final Parameters live, frozen;
    private final FashionClassifier trained, fixed;
    private final double weight, featureMatchingWeight;
    private double lastLoss = Double.NaN;

    /**
     * @param featureMatchingWeight weight of the decoder's feature-matching term: the mean L1 distance between the
     *                              discriminator's stage activations of each fake and of its own real image, averaged
     *                              over the stages (a perceptual loss learned on the spot, as in pix2pixHD)
     */
    public Discriminator(Parameters live, double weight, double featureMatchingWeight) {
        this.live = live;
        this.frozen = live.copy();
        this.trained = new FashionClassifier(CONFIG, live.weights("discriminator"));
        this.fixed = new FashionClassifier(CONFIG, frozen.weights("discriminator (frozen copy)"));
        this.weight = weight;
        this.featureMatchingWeight = featureMatchingWeight;
    }

    public static Parameters initialize(Rng rng) {
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
        List<FeatureMap> fakeMaps = fixed.forwardStages(fake);
        float[] fakeForDecoder = positionLogits(fixed, fakeMaps);
        List<FeatureMap> realMaps = trained.forwardStages(real);
        float[] realScores = positionLogits(trained, realMaps);
        float[] fakeScores = positionLogits(trained, trained.forwardStages(fake.with(fake.data().clone())));
        int m = fakeForDecoder.length, per = m / n;
        float[] gDecoder = new float[m], gReal = new float[m], gFake = new float[m];
        double decoderLoss = 0, discriminatorLoss = 0;
        for (int i = 0; i < m; i++) {
            decoderLoss -= weight * fakeForDecoder[i] / m;
            gDecoder[i] = (float) (-weight / m);
        }
        for (int b = 0; b < n; b++) {
            double r = 0, f = 0;
            for (int p = 0; p < per; p++) {
                r += realScores[b * per + p] / per;
                f += fakeScores[b * per + p] / per;
            }
            discriminatorLoss += (Math.max(0, 1 - r) + Math.max(0, 1 + f)) / n;
            for (int p = 0; p < per; p++) {
                gReal[b * per + p] = r < 1 ? -1f / m : 0f;
                gFake[b * per + p] = f > -1 ? 1f / m : 0f;
            }
        }
        lastLoss = discriminatorLoss;
        List<float[]> featureGrads = new ArrayList<>();
        if (featureMatchingWeight > 0) {
            // the targets: the real images' maps above (the live weights equal the frozen copy's until the update)
            for (int s = 0; s < fakeMaps.size(); s++) {
                float[] f = fakeMaps.get(s).data(), r = realMaps.get(s).data(), g = new float[f.length];
                float step = (float) (featureMatchingWeight / fakeMaps.size() / f.length);
                double sum = 0;
                for (int i = 0; i < f.length; i++) {
                    double d = f[i] - r[i];
                    sum += Math.abs(d);
                    g[i] = (float) Math.signum(d) * step;
                }
                decoderLoss += featureMatchingWeight / fakeMaps.size() * sum / f.length;
                featureGrads.add(g);
            }
        }
        float[] out = new float[1];
        Tape.record(out, (t, g) -> {
            t.accumulate(fake.data(), reconGrad);
            t.accumulate(fakeForDecoder, gDecoder);
            for (int s = 0; s < featureGrads.size(); s++) t.accumulate(fakeMaps.get(s).data(), featureGrads.get(s));
            t.accumulate(realScores, gReal);
            t.accumulate(fakeScores, gFake);
        }, fake.data(), realScores, fakeScores);
        return new Scored(decoderLoss, out);
    }

    /** The head applied at every position of the last map: [batch × positions] logits, their mean the image's score. */
    private static float[] positionLogits(FashionClassifier d, List<FeatureMap> stages) {
        FeatureMap last = stages.get(stages.size() - 1);
        return d.logitsFromFeatures(last.data(), last.batch() * last.pixels());
    }

    /** The hinge loss of the discriminator at the last step (NaN before the first). */
    double lastLoss() {
        return lastLoss;
    }
}
