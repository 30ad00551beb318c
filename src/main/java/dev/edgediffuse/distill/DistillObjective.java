package dev.edgediffuse.distill;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.FeatureTaps;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.speedup.TokenMergeSettings;
import dev.edgediffuse.speedup.TokenMerging;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import dev.edgediffuse.train.Batches;
import dev.edgediffuse.train.DiffusionObjective;
import dev.edgediffuse.train.LatentDataset;
import dev.edgediffuse.train.Rng;
import dev.edgediffuse.train.TrainingLoop;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * BK-SDM's distillation loss for one step: the same noisy latents, timesteps and text states go to the student and
 * the teacher, and L = w_task·MSE(ε_s, ε) + w_out·MSE(ε_s, ε_t) + w_feat·Σ_l MSE(F_s^l, F_t^l) over the paired block
 * outputs ({@link FeaturePairs}), each term mean-reduced. The teacher and the (frozen, shared) text encoder run
 * without recording ({@link Tape#noGradient()}); only the student's UNet trains. The task term may take Min-SNR-γ
 * weights as the Mini's own training did; the KD terms are unweighted, as BK-SDM's. With both KD weights at 0 the
 * teacher is not run: the same student trained on the task loss alone (the ablation). With token merging on
 * ({@link #mergingStudentTokens}) the student runs merged, as it will at inference, and learns through the merge;
 * the teacher stays unmerged, the float target.
 */
public final class DistillObjective implements TrainingLoop.Objective {
    /** Loss weights (BK-SDM: 1, 1, 1). */
    public record Weights(double task, double output, double feature) {
        public boolean usesTeacher() {
            return output != 0 || feature != 0;
        }
    }

    private final UNet2DConditionModel student, teacher;
    private final ClipTextModel text;
    private final ClipTokenizer tokenizer;
    private final LatentDataset latents;
    /** A training image's caption, drawn with the step's random numbers (Fashion-MNIST's varied captions, or a file's). */
    private final BiFunction<Integer, Rng, String> caption;
    private final Map<String, String> pairs;
    private final float[] alphasCumprod;
    private final Batches batches;
    private final double dropout, minSnrGamma;
    private final Weights weights;
    private final long seed;
    private final Map<String, int[]> ids = new HashMap<>();
    private final int[] emptyIds;
    private double lastTask, lastOutput, lastFeature;
    private TokenMergeSettings studentTokenMerge;

    public DistillObjective(UNet2DConditionModel student, UNet2DConditionModel teacher, ClipTextModel text, ClipTokenizer tokenizer,
                            LatentDataset latents, BiFunction<Integer, Rng, String> caption, Map<String, String> pairs,
                            float[] alphasCumprod, int batch, double dropout, double minSnrGamma, Weights weights, long seed) {
        this.student = student;
        this.teacher = teacher;
        this.text = text;
        this.tokenizer = tokenizer;
        this.latents = latents;
        this.caption = caption;
        this.pairs = pairs;
        this.alphasCumprod = alphasCumprod;
        this.batches = new Batches(latents.count(), batch, seed);
        this.dropout = dropout;
        this.minSnrGamma = minSnrGamma;
        this.weights = weights;
        this.seed = seed;
        this.emptyIds = tokenizer.encode("");
    }

    /**
     * Token merging in the student's forward passes (the QAT recipe's {@code tome}): each training row draws its own
     * random partition from the seed and step, so a resumed run merges as the uninterrupted one did.
     */
    public DistillObjective mergingStudentTokens(TokenMergeSettings settings) {
        this.studentTokenMerge = settings;
        return this;
    }

    @Override
    public double step(Tape tape, long step) {
        Rng rng = TrainingLoop.rngFor(seed, step);
        int[] idx = batches.indices(step);
        int b = idx.length, size = latents.pixels() * latents.channels();
        float[] z0 = latents.sample(idx, rng);
        float[] noise = new float[b * size], noisy = new float[b * size], timesteps = new float[b];
        double[] snrWeight = new double[b];
        int[][] tokens = new int[b][];
        for (int j = 0; j < b; j++) {
            int t = rng.nextInt(alphasCumprod.length);
            timesteps[j] = t;
            snrWeight[j] = DiffusionObjective.minSnrWeight(alphasCumprod[t], minSnrGamma);
            DiffusionObjective.addNoise(z0, j * size, size, alphasCumprod[t], 0, rng, noise, noisy);
            String c = caption.apply(idx[j], rng);
            tokens[j] = rng.nextDouble() < dropout ? emptyIds : ids.computeIfAbsent(c, tokenizer::encode);
        }
        FeatureMap x = new FeatureMap(noisy, b, latents.height(), latents.width(), latents.channels());
        float[] context;
        FeatureTaps teacherTaps = FeatureTaps.of(List.copyOf(pairs.values()));
        float[] teacherPred = null;
        try (Tape.NoGradient ignored = Tape.noGradient()) {
            context = text.encode(tokens);
            if (weights.usesTeacher()) {
                teacherPred = teacher.predict(x, timesteps, context, tokens[0].length, UNetHooks.NONE.withTaps(teacherTaps)).data().clone();
            }
        }
        FeatureTaps studentTaps = FeatureTaps.of(List.copyOf(pairs.keySet()));
        UNetHooks studentHooks = UNetHooks.NONE.withTaps(studentTaps);
        if (studentTokenMerge != null) studentHooks = studentHooks.withTokenMerge(new TokenMerging(studentTokenMerge, rowSeeds(step, b)));
        float[] pred = student.predict(x, timesteps, context, tokens[0].length, studentHooks).data();

        int n = pred.length;
        float[] grad = new float[n];
        double task = 0, output = 0;
        for (int i = 0; i < n; i++) {
            double d = pred[i] - noise[i];
            task += d * d;
            double g = 2 * weights.task() * d * snrWeight[i / size];
            if (teacherPred != null) {
                double o = pred[i] - teacherPred[i];
                output += o * o;
                g += 2 * weights.output() * o;
            }
            grad[i] = (float) (g / n);
        }
        lastTask = task / n;
        lastOutput = output / n;
        double feature = 0;
        if (weights.feature() != 0) {
            for (Map.Entry<String, String> p : pairs.entrySet()) {
                FeatureMap fs = studentTaps.get(p.getKey()), ft = teacherTaps.get(p.getValue());
                if (fs.data().length != ft.data().length) {
                    throw new IllegalStateException("feature pair " + p.getKey() + " / " + p.getValue() + " differs in shape: "
                            + shape(fs) + " vs " + shape(ft));
                }
                float[] s = fs.data(), t = ft.data(), g = new float[s.length];
                double sq = 0;
                for (int i = 0; i < s.length; i++) {
                    double d = s[i] - t[i];
                    sq += d * d;
                    g[i] = (float) (2 * weights.feature() * d / s.length);
                }
                feature += sq / s.length;
                tape.accumulate(s, g);
            }
        }
        lastFeature = feature;
        tape.backward(pred, grad);
        return weights.task() * lastTask + weights.output() * lastOutput + weights.feature() * lastFeature;
    }

    /** One token-merging partition seed per row of a step (apart from the step's own random numbers). */
    private long[] rowSeeds(long step, int rows) {
        long[] seeds = new long[rows];
        for (int j = 0; j < rows; j++) seeds[j] = TokenMerging.rowSeed(seed ^ step * 0x632BE59BD9B4E019L, j);
        return seeds;
    }

    private static String shape(FeatureMap f) {
        return f.batch() + "x" + f.height() + "x" + f.width() + "x" + f.channels();
    }

    /** The three terms of the last step, unweighted (the task term without its Min-SNR weights), for the log. */
    @Override
    public Map<String, Double> lastMetrics() {
        return Map.of("task", lastTask, "output_kd", lastOutput, "feature_kd", lastFeature);
    }
}
