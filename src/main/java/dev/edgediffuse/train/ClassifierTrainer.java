package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Trains a {@link FashionClassifier} on Fashion-MNIST: softmax cross-entropy (optionally label-smoothed), AdamW with
 * linear warm-up and cosine decay, random shifts and horizontal flips, an EMA of the weights (what is saved). Each
 * epoch ends with the test accuracy; the folder gets config.json, model.safetensors and train.log.
 */
public final class ClassifierTrainer {
    /** Hyper-parameters; {@code trainLimit}/{@code testLimit} &gt; 0 use only the first that many images (quick runs). */
    public record Settings(int epochs, int batch, double lr, double weightDecay, int warmupSteps, double labelSmoothing,
                           double ema, int maxShift, boolean flips, long seed, int trainLimit, int testLimit, DType dtype) {
        public static Settings defaults() {
            return new Settings(6, 128, 3e-3, 0.05, 200, 0.1, 0.999, 1, true, 1, 0, 0, DType.F16);
        }

        public Settings withEpochs(int e) {
            return new Settings(e, batch, lr, weightDecay, warmupSteps, labelSmoothing, ema, maxShift, flips, seed, trainLimit, testLimit, dtype);
        }

        public Settings withLimits(int train, int test) {
            return new Settings(epochs, batch, lr, weightDecay, warmupSteps, labelSmoothing, ema, maxShift, flips, seed, train, test, dtype);
        }

        public Settings withBatch(int b, int warmup) {
            return new Settings(epochs, b, lr, weightDecay, warmup, labelSmoothing, ema, maxShift, flips, seed, trainLimit, testLimit, dtype);
        }

        public Settings withLr(double peak) {
            return new Settings(epochs, batch, peak, weightDecay, warmupSteps, labelSmoothing, ema, maxShift, flips, seed, trainLimit, testLimit, dtype);
        }

        public Settings withSeed(long s) {
            return new Settings(epochs, batch, lr, weightDecay, warmupSteps, labelSmoothing, ema, maxShift, flips, s, trainLimit, testLimit, dtype);
        }

        public Settings withEma(double decay) {
            return new Settings(epochs, batch, lr, weightDecay, warmupSteps, labelSmoothing, decay, maxShift, flips, seed, trainLimit, testLimit, dtype);
        }

        void validate() {
            if (epochs < 1) throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
            if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
            if (!(lr > 0)) throw new IllegalArgumentException("--lr must be > 0, got " + lr);
        }
    }

    /** Per-epoch mean training loss and test accuracy (of the saved weights), and the wall time. */
    public record Result(double[] trainLoss, double[] testAccuracy, double seconds, double cpuSeconds, long steps, long parameters) {
        public double finalAccuracy() {
            return testAccuracy[testAccuracy.length - 1];
        }
    }

    private final FashionClassifierConfig config;
    private final Settings settings;
    private final PrintStream log, progress;

    /** {@code log} gets one line per epoch (nullable); {@code progress} the progress bar (nullable). */
    public ClassifierTrainer(FashionClassifierConfig config, Settings settings, PrintStream log, PrintStream progress) {
        settings.validate();
        this.config = config;
        this.settings = settings;
        this.log = log;
        this.progress = progress;
    }

    /** Trains on {@code train}, measures on {@code test}; writes the folder {@code out} when not null. */
    public Result train(FashionMnist train, FashionMnist test, Path out) throws IOException {
        if (config.imageSize() != FashionMnist.SIZE || config.inChannels() != 1) {
            throw new IllegalArgumentException("the trainer feeds 32x32 grey images; config asks for "
                    + config.imageSize() + "x" + config.imageSize() + "x" + config.inChannels());
        }
        long t0 = System.nanoTime(), cpu0 = cpuNanos();
        Rng rng = new Rng(settings.seed());
        Parameters params = Parameters.initialize(FashionClassifier.tensorShapes(config), rng);
        FashionClassifier model = new FashionClassifier(config, params.weights("classifier"));
        Ema ema = settings.ema() > 0 ? new Ema(params, settings.ema()) : null;
        FashionClassifier evalModel = ema == null ? model : new FashionClassifier(config, ema.weights().weights("classifier-ema"));
        AdamW opt = new AdamW(params, 0.9, 0.999, 1e-8, settings.weightDecay(), 1.0);

        int n = settings.trainLimit() > 0 ? Math.min(settings.trainLimit(), train.count()) : train.count();
        int nTest = settings.testLimit() > 0 ? Math.min(settings.testLimit(), test.count()) : test.count();
        int perEpoch = Math.max(1, n / settings.batch());
        long total = (long) perEpoch * settings.epochs();
        LearningRate schedule = new LearningRate(settings.lr(), Math.min(settings.warmupSteps(), total / 5), total, 0.0);
        FeatureMap testImages = images(test, nTest);
        int[] testLabels = java.util.Arrays.copyOf(test.labels(), nTest);

        Path logFile = null;
        if (out != null) {
            Files.createDirectories(out);
            logFile = out.resolve("train.log");
            Files.writeString(logFile, "");
        }
        say(logFile, String.format("classifier %s, %,d parameters; %,d training images, %d epochs x %d steps of %d; %s",
                config.toJson(), params.count(), n, settings.epochs(), perEpoch, settings.batch(), settings));

        double[] losses = new double[settings.epochs()], accuracies = new double[settings.epochs()];
        Progress bar = Progress.items(progress, "train", total * settings.batch(), "img");
        long step = 0;
        int b = settings.batch();
        float[] batchImages = new float[b * FashionMnist.SIZE * FashionMnist.SIZE];
        int[] batchLabels = new int[b];
        for (int epoch = 0; epoch < settings.epochs(); epoch++) {
            int[] order = rng.permutation(n);
            double lossSum = 0;
            int correct = 0;
            for (int s = 0; s < perEpoch; s++, step++) {
                for (int k = 0; k < b; k++) {
                    int idx = order[s * b + k];
                    batchLabels[k] = train.labels()[idx];
                    augment(train, idx, batchImages, k, rng);
                }
                FeatureMap x = new FeatureMap(batchImages.clone(), b, FashionMnist.SIZE, FashionMnist.SIZE, 1);
                double loss;
                try (Tape tape = Tape.begin(params.arrays())) {
                    float[] logits = model.forwardLogits(x);
                    float[] dLogits = new float[logits.length];
                    loss = crossEntropy(logits, batchLabels, config.numClasses(), settings.labelSmoothing(), dLogits);
                    int[] pred = FashionClassifier.argmax(logits, config.numClasses());
                    for (int k = 0; k < b; k++) if (pred[k] == batchLabels[k]) correct++;
                    tape.backward(logits, dLogits);
                    opt.step(tape, schedule.at(step));
                }
                if (!Double.isFinite(loss)) throw new IllegalStateException("training loss became " + loss + " at step " + (step + 1));
                if (ema != null) ema.update(params, step);
                lossSum += loss;
                bar.update((step + 1) * b, String.format("epoch %d/%d, loss %.4f, train acc %.3f, lr %.2e", epoch + 1,
                        settings.epochs(), lossSum / (s + 1), correct / (double) ((s + 1) * b), schedule.at(step)));
            }
            losses[epoch] = lossSum / perEpoch;
            long te = System.nanoTime();
            accuracies[epoch] = accuracy(evalModel.predict(testImages), testLabels);
            say(logFile, String.format("epoch %d/%d: train loss %.4f, train acc %.4f, test acc %.4f (%d images, %.1f s), %.1f min elapsed, %.0f CPU s",
                    epoch + 1, settings.epochs(), losses[epoch], correct / (double) (perEpoch * b), accuracies[epoch], nTest,
                    (System.nanoTime() - te) / 1e9, (System.nanoTime() - t0) / 60e9, (cpuNanos() - cpu0) / 1e9));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Parameters saved = ema == null ? params : ema.weights();
        if (out != null) {
            AtomicFiles.write(out.resolve(FashionClassifier.CONFIG), (config.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("format", "pt");
            meta.put("test_accuracy", String.format("%.4f", accuracies[accuracies.length - 1]));
            meta.put("epochs", Integer.toString(settings.epochs()));
            saved.save(out.resolve(FashionClassifier.WEIGHTS), settings.dtype(), meta);
        }
        double cpu = (cpuNanos() - cpu0) / 1e9;
        say(logFile, String.format("done: test accuracy %.4f after %d steps in %.1f s wall, %.1f CPU s (%.0f img/s, %.0f img per CPU s)%s",
                accuracies[accuracies.length - 1], step, seconds, cpu, step * b / seconds, step * b / cpu, out == null ? "" : "; wrote " + out));
        return new Result(losses, accuracies, seconds, cpu, step, params.count());
    }

    /** CPU time of the whole process (all threads), the measure that does not depend on what else the machine runs. */
    static long cpuNanos() {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : 0;
    }

    private void say(Path logFile, String line) throws IOException {
        if (log != null) log.println(line);
        if (logFile != null) Files.writeString(logFile, line + "\n", StandardOpenOption.APPEND);
    }

    /** Image {@code idx} shifted by up to maxShift pixels each way (border value fills) and maybe mirrored, into slot k. */
    private void augment(FashionMnist data, int idx, float[] dst, int k, Rng rng) {
        int size = FashionMnist.SIZE, m = settings.maxShift();
        int dx = m > 0 ? rng.nextInt(2 * m + 1) - m : 0, dy = m > 0 ? rng.nextInt(2 * m + 1) - m : 0;
        boolean flip = settings.flips() && rng.nextInt(2) == 1;
        byte[] px = data.pixels();
        int base = idx * size * size, o = k * size * size;
        for (int y = 0; y < size; y++) {
            int sy = y - dy;
            for (int x = 0; x < size; x++) {
                int sx = (flip ? size - 1 - x : x) - dx;
                float v = sy >= 0 && sy < size && sx >= 0 && sx < size ? (px[base + sy * size + sx] & 255) / 127.5f - 1f : -1f;
                dst[o + y * size + x] = v;
            }
        }
    }

    /** The first {@code n} images as a [n][32][32][1] map in [-1, 1]. */
    public static FeatureMap images(FashionMnist data, int n) {
        int per = FashionMnist.SIZE * FashionMnist.SIZE;
        float[] d = new float[n * per];
        byte[] px = data.pixels();
        for (int i = 0; i < d.length; i++) d[i] = (px[i] & 255) / 127.5f - 1f;
        return new FeatureMap(d, n, FashionMnist.SIZE, FashionMnist.SIZE, 1);
    }

    public static double accuracy(int[] predicted, int[] labels) {
        int c = 0;
        for (int i = 0; i < predicted.length; i++) if (predicted[i] == labels[i]) c++;
        return c / (double) predicted.length;
    }

    /**
     * Mean softmax cross-entropy of rows of logits against labels smoothed by {@code smoothing} (the target puts
     * 1 − smoothing + smoothing/K on the label, smoothing/K elsewhere); writes d(loss)/d(logits) into {@code grad}.
     */
    public static double crossEntropy(float[] logits, int[] labels, int classes, double smoothing, float[] grad) {
        int rows = logits.length / classes;
        double total = 0;
        double off = smoothing / classes, on = 1 - smoothing + off;
        for (int r = 0; r < rows; r++) {
            int o = r * classes;
            double max = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < classes; k++) max = Math.max(max, logits[o + k]);
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += Math.exp(logits[o + k] - max);
            double logSum = max + Math.log(sum);
            for (int k = 0; k < classes; k++) {
                double target = k == labels[r] ? on : off;
                double logP = logits[o + k] - logSum;
                total -= target * logP;
                if (grad != null) grad[o + k] = (float) ((Math.exp(logP) - target) / rows);
            }
        }
        return total / rows;
    }
}
