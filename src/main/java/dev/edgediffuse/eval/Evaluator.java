package dev.edgediffuse.eval;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.tensor.FeatureMap;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Measures a text-to-image model against the Fashion-MNIST classifier: prompt accuracy (share of images the classifier
 * assigns to the prompted class, per class and overall), FID on the classifier's penultimate features against the test
 * set next to the real-vs-real floor (a class-balanced train subset of the same size against the test set) and the
 * autoencoder ceiling (the same subset through the model's VAE), throughput
 * and single-image latency; with a reference model, fidelity on identical prompts, seeds and initial noise (PSNR, SSIM,
 * share of images whose predicted class changes). Images are judged as they would be saved: clamped and rounded to
 * 8 bits.
 */
public final class Evaluator {
    /** PSNR reported for identical images (otherwise infinite). */
    public static final double PSNR_CAP = 100;
    /** Gaussian blurs (pixels) applied to the floor's real images for the report's sharpness scale. */
    public static final double[] BLUR_SIGMAS = {0.5, 1.0};

    /**
     * @param latencyRuns single-image generations timed for the latency figure (after one untimed warm-up); 0: none
     * @param gridImages  the first this many images are kept (RGB bytes) for a contact sheet; 0: none
     */
    public record Options(int latencyRuns, int gridImages) {
        public static final Options DEFAULT = new Options(5, 0);
    }

    private final FashionClassifier classifier;
    private final FashionMnist train, test;
    private final PrintStream progress;

    /** {@code train} may be null (no real-vs-real floor); {@code progress} may be null (quiet). */
    public Evaluator(FashionClassifier classifier, FashionMnist train, FashionMnist test, PrintStream progress) {
        this.classifier = classifier;
        this.train = train;
        this.test = test;
        this.progress = progress;
    }

    /** What the classifier makes of a set of images: its features and predicted classes. */
    record Judged(float[][] features, int[] predicted) {}

    /** Classifier test accuracy, test features (computed once per evaluator). */
    private Judged testJudged;

    public EvalReport evaluate(ImageGenerator model, ImageGenerator reference, EvalPlan plan, Options options) {
        int n = plan.size();
        int[] labels = plan.labels();
        Judged real = judgeTest();
        double classifierAccuracy = accuracy(real.predicted, test.labels());

        EvalReport.Latency latency = options.latencyRuns() > 0 ? latency(model, plan, options.latencyRuns()) : null;

        int dim = classifier.config().featureDim(), classes = classifier.config().numClasses();
        float[][] features = new float[n][], refFeatures = reference == null ? null : new float[n][];
        int[] predicted = new int[n], refPredicted = reference == null ? null : new int[n];
        double psnrSum = 0, ssimSum = 0, psnrMin = Double.POSITIVE_INFINITY;
        int identical = 0;
        List<byte[]> grid = new ArrayList<>();
        int gridW = 0, gridH = 0;
        double genSeconds = 0;
        int batch = Math.max(1, model.preferredBatch());
        Progress bar = Progress.items(progress, "generate", n, "img");
        for (int start = 0; start < n; start += batch) {
            List<EvalPlan.Job> jobs = plan.jobs().subList(start, Math.min(n, start + batch));
            long t = System.nanoTime();
            List<FeatureMap> images = model.generate(jobs);
            genSeconds += (System.nanoTime() - t) / 1e9;
            checkCount(model, images, jobs.size());
            List<float[]> quantized = quantize(images);
            classify(images, quantized, start, features, predicted);
            if (reference != null) {
                List<FeatureMap> refImages = reference.generate(jobs);
                checkCount(reference, refImages, jobs.size());
                List<float[]> refQuantized = quantize(refImages);
                classify(refImages, refQuantized, start, refFeatures, refPredicted);
                for (int k = 0; k < jobs.size(); k++) {
                    FeatureMap a = images.get(k), b = refImages.get(k);
                    if (a.height() != b.height() || a.width() != b.width() || a.channels() != b.channels()) {
                        throw new IllegalArgumentException("--reference makes " + b.width() + "x" + b.height() + "x" + b.channels()
                                + " images, the model " + a.width() + "x" + a.height() + "x" + a.channels());
                    }
                    double p = ImageMetrics.psnr(quantized.get(k), refQuantized.get(k));
                    if (Double.isInfinite(p)) identical++;
                    p = Math.min(p, PSNR_CAP);
                    psnrSum += p;
                    psnrMin = Math.min(psnrMin, p);
                    ssimSum += ImageMetrics.ssim(quantized.get(k), refQuantized.get(k), a.height(), a.width(), a.channels());
                }
            }
            for (int k = 0; k < jobs.size() && grid.size() < options.gridImages(); k++) {
                grid.add(rgbBytes(quantized.get(k), images.get(k)));
                gridW = images.get(k).width();
                gridH = images.get(k).height();
            }
            int done = start + jobs.size();
            bar.update(done, String.format("prompt accuracy %.1f%%", 100 * accuracy(Arrays.copyOf(predicted, done), Arrays.copyOf(labels, done))));
        }

        EvalReport.Accuracy acc = EvalReport.Accuracy.of(predicted, labels, classes);
        FrechetDistance.Terms fidTerms = FrechetDistance.terms(features, real.features);
        EvalReport.Floor floor = null;
        if (train != null) {
            int m = Math.min(n, train.count());
            FeatureMap trainImages = balancedImages(train, m, plan.seed());
            float[][] trainFeatures = features(trainImages);
            List<EvalReport.Blurred> blurred = new ArrayList<>();
            for (double sigma : BLUR_SIGMAS) {
                FeatureMap b = ImageMetrics.gaussianBlur8Bit(trainImages, sigma);
                blurred.add(new EvalReport.Blurred(sigma, FrechetDistance.between(features(b), real.features)));
            }
            floor = new EvalReport.Floor(m, FrechetDistance.between(trainFeatures, real.features), autoencoderFid(model, trainImages, batch, real), blurred);
        }
        EvalReport.Fidelity fidelity = null;
        if (reference != null) {
            int flips = 0;
            for (int i = 0; i < n; i++) if (predicted[i] != refPredicted[i]) flips++;
            fidelity = new EvalReport.Fidelity(reference.name(), psnrSum / n, psnrMin, identical, ssimSum / n, flips, flips / (double) n,
                    EvalReport.Accuracy.of(refPredicted, labels, classes), FrechetDistance.between(refFeatures, real.features));
        }
        var throughput = new EvalReport.Throughput(n, genSeconds, n / genSeconds, 1000 * genSeconds / n, batch);
        EvalReport.Grid g = grid.isEmpty() ? null : new EvalReport.Grid(grid, gridW, gridH);
        return new EvalReport(model.name(), n, test.count(), dim, classifierAccuracy, acc, fidTerms, floor, throughput, latency, fidelity, g, null);
    }

    /** Prompt accuracy of {@code model} on {@code plan}'s jobs alone (the held-out prompts: no FID, no reference). */
    public EvalReport.Accuracy accuracy(ImageGenerator model, EvalPlan plan) {
        int n = plan.size(), batch = Math.max(1, model.preferredBatch());
        int[] predicted = new int[n];
        float[][] features = new float[n][];
        Progress bar = Progress.items(progress, "held-out", n, "img");
        for (int start = 0; start < n; start += batch) {
            List<EvalPlan.Job> jobs = plan.jobs().subList(start, Math.min(n, start + batch));
            List<FeatureMap> images = model.generate(jobs);
            checkCount(model, images, jobs.size());
            classify(images, quantize(images), start, features, predicted);
            bar.step(start + jobs.size());
        }
        return EvalReport.Accuracy.of(predicted, plan.labels(), classifier.config().numClasses());
    }

    /** FID of the model's VAE round trip of {@code images} (grey) against the test set; NaN if it has no VAE. */
    private double autoencoderFid(ImageGenerator model, FeatureMap images, int batch, Judged real) {
        int n = images.batch(), per = images.pixels();
        float[][] features = new float[n][];
        int[] predicted = new int[n];
        for (int start = 0; start < n; start += batch) {
            int count = Math.min(batch, n - start);
            float[] rgb = new float[count * per * 3];
            for (int i = 0; i < count * per; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = images.data()[start * per + i];
            FeatureMap out = model.reconstruct(new FeatureMap(rgb, count, images.height(), images.width(), 3));
            if (out == null) return Double.NaN;
            List<FeatureMap> each = new ArrayList<>(count);
            int size = out.pixels() * out.channels();
            for (int k = 0; k < count; k++) {
                each.add(new FeatureMap(Arrays.copyOfRange(out.data(), k * size, (k + 1) * size), 1, out.height(), out.width(), out.channels()));
            }
            classify(each, quantize(each), start, features, predicted);
        }
        return FrechetDistance.between(features, real.features);
    }

    /** Times {@code runs} single-image generations (jobs 0.. of the plan) after one untimed warm-up run. */
    private EvalReport.Latency latency(ImageGenerator model, EvalPlan plan, int runs) {
        List<EvalPlan.Job> jobs = plan.jobs();
        model.generate(List.of(jobs.getFirst()));
        double[] ms = new double[runs];
        for (int r = 0; r < runs; r++) {
            long t = System.nanoTime();
            model.generate(List.of(jobs.get(r % jobs.size())));
            ms[r] = (System.nanoTime() - t) / 1e6;
        }
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        double median = runs % 2 == 1 ? sorted[runs / 2] : 0.5 * (sorted[runs / 2 - 1] + sorted[runs / 2]);
        return new EvalReport.Latency(runs, median, sorted[0], sorted[runs - 1]);
    }

    private static void checkCount(ImageGenerator g, List<FeatureMap> images, int expected) {
        if (images.size() != expected) throw new IllegalStateException(g.name() + " returned " + images.size() + " images for " + expected + " prompts");
    }

    /** Features and predictions of the quantized images into rows [start, start + count). */
    private void classify(List<FeatureMap> images, List<float[]> quantized, int start, float[][] features, int[] predicted) {
        FeatureMap first = images.getFirst();
        int h = first.height(), w = first.width(), c = first.channels(), per = h * w;
        float[] grey = new float[images.size() * per];
        for (int k = 0; k < images.size(); k++) {
            FeatureMap img = images.get(k);
            if (img.height() != h || img.width() != w || img.channels() != c) throw new IllegalStateException("images of one batch differ in size");
            float[] q = quantized.get(k);
            for (int p = 0; p < per; p++) {
                float s = 0;
                for (int j = 0; j < c; j++) s += q[p * c + j];
                grey[k * per + p] = 2f * s / c - 1f;
            }
        }
        Judged j = judge(new FeatureMap(grey, images.size(), h, w, 1));
        for (int k = 0; k < images.size(); k++) {
            features[start + k] = j.features[k];
            predicted[start + k] = j.predicted[k];
        }
    }

    private Judged judge(FeatureMap images) {
        int dim = classifier.config().featureDim();
        float[] f = classifier.features(images);
        int[] pred = FashionClassifier.argmax(classifier.logitsFromFeatures(f, images.batch()), classifier.config().numClasses());
        float[][] rows = new float[images.batch()][];
        for (int k = 0; k < rows.length; k++) rows[k] = Arrays.copyOfRange(f, k * dim, (k + 1) * dim);
        return new Judged(rows, pred);
    }

    private float[][] features(FeatureMap images) {
        return judge(images).features;
    }

    private Judged judgeTest() {
        if (testJudged == null) testJudged = judge(realImages(test, identity(test.count())));
        return testJudged;
    }

    /** The classifier's accuracy on the test set. */
    public double classifierTestAccuracy() {
        return accuracy(judgeTest().predicted, test.labels());
    }

    /** Each image (values clamped to [-1, 1]) as the 8-bit levels a saved PNG holds, scaled to [0, 1]. */
    static List<float[]> quantize(List<FeatureMap> images) {
        List<float[]> out = new ArrayList<>(images.size());
        for (FeatureMap img : images) {
            if (img.batch() != 1) throw new IllegalStateException("one image per job expected, got a batch of " + img.batch());
            float[] d = img.data(), q = new float[d.length];
            for (int i = 0; i < d.length; i++) {
                if (Float.isNaN(d[i])) throw new IllegalStateException("generated image contains NaN");
                float u = Math.min(1f, Math.max(0f, d[i] / 2f + 0.5f));
                q[i] = Math.round(u * 255f) / 255f;
            }
            out.add(q);
        }
        return out;
    }

    private static byte[] rgbBytes(float[] q, FeatureMap img) {
        int c = img.channels(), pixels = img.pixels();
        byte[] rgb = new byte[pixels * 3];
        for (int p = 0; p < pixels; p++)
            for (int j = 0; j < 3; j++) rgb[p * 3 + j] = (byte) Math.round(255f * q[p * c + (c == 3 ? j : 0)]);
        return rgb;
    }

    /**
     * {@code m} training images, class-balanced like the plan (image i of class i mod 10), drawn without replacement in
     * an order fixed by {@code seed}: the real-data counterpart of the generated set.
     */
    static int[] balancedSubset(FashionMnist data, int m, long seed) {
        int classes = FashionMnist.CLASSES.length;
        int[] order = new int[data.count()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Random r = new Random(seed ^ 0x5DEECE66DL);
        for (int i = order.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) byClass.add(new ArrayList<>());
        for (int i : order) byClass.get(data.labels()[i]).add(i);
        int[] next = new int[classes], out = new int[m];
        for (int i = 0, k = 0; k < m; i++) {
            int c = i % classes;
            if (next[c] < byClass.get(c).size()) out[k++] = byClass.get(c).get(next[c]++);
            else if (i > m * classes + data.count()) throw new IllegalStateException("not enough training images");
        }
        return out;
    }

    private static FeatureMap balancedImages(FashionMnist data, int m, long seed) {
        return realImages(data, balancedSubset(data, m, seed));
    }

    /** The first {@code n} images of a split (quick runs measure against fewer real images). */
    public static FashionMnist first(FashionMnist data, int n) {
        if (n >= data.count()) return data;
        int per = FashionMnist.SIZE * FashionMnist.SIZE;
        return new FashionMnist(Arrays.copyOf(data.pixels(), n * per), Arrays.copyOf(data.labels(), n), n);
    }

    static FeatureMap realImages(FashionMnist data, int[] indices) {
        int per = FashionMnist.SIZE * FashionMnist.SIZE;
        float[] d = new float[indices.length * per];
        byte[] px = data.pixels();
        for (int k = 0; k < indices.length; k++)
            for (int p = 0; p < per; p++) d[k * per + p] = (px[indices[k] * per + p] & 255) / 127.5f - 1f;
        return new FeatureMap(d, indices.length, FashionMnist.SIZE, FashionMnist.SIZE, 1);
    }

    private static int[] identity(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }

    static double accuracy(int[] predicted, int[] labels) {
        if (predicted.length == 0) return 0;
        int c = 0;
        for (int i = 0; i < predicted.length; i++) if (predicted[i] == labels[i]) c++;
        return c / (double) predicted.length;
    }
}
