package dev.edgediffuse.train;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** The classifier trainer: its loss and gradient, learning on tiny data sets, and the folder it writes. */
class ClassifierTrainerTest {
    private static final FashionClassifierConfig SMALL = new FashionClassifierConfig(32, 1, new int[]{8, 16, 32}, new int[]{0, 1, 1}, 4, 1e-5, 10,
            true, 64);

    @TempDir
    Path dir;

    @Test
    void crossEntropyValueAndGradient() {
        float[] logits = new float[20];
        double loss = ClassifierTrainer.crossEntropy(logits, new int[]{3, 7}, 10, 0, null);
        assertEquals(Math.log(10), loss, 1e-9, "uniform logits: ln K");
        Rng r = new Rng(1);
        for (int i = 0; i < logits.length; i++) logits[i] = 2 * r.nextGaussian();
        int[] labels = {3, 7};
        for (double smoothing : new double[]{0, 0.1}) {
            float[] grad = new float[20];
            ClassifierTrainer.crossEntropy(logits, labels, 10, smoothing, grad);
            double sum = 0;
            for (int i = 0; i < 20; i++) {
                float orig = logits[i];
                logits[i] = orig + 1e-3f;
                double plus = ClassifierTrainer.crossEntropy(logits, labels, 10, smoothing, null);
                logits[i] = orig - 1e-3f;
                double minus = ClassifierTrainer.crossEntropy(logits, labels, 10, smoothing, null);
                logits[i] = orig;
                assertEquals((plus - minus) / 2e-3, grad[i], 2e-4, "d loss / d logit " + i + " (smoothing " + smoothing + ")");
                sum += grad[i];
            }
            assertEquals(0, sum, 1e-6, "softmax gradients of each row sum to zero");
        }
        float[] confident = new float[10];
        confident[4] = 30;
        assertTrue(ClassifierTrainer.crossEntropy(confident, new int[]{4}, 10, 0, null) < 1e-9);
        assertTrue(ClassifierTrainer.crossEntropy(confident, new int[]{4}, 10, 0.1, null) > 0.5, "smoothing punishes overconfidence");
    }

    /** Class k: a bright horizontal bar at rows 3k..3k+1 over a dim noisy background. */
    static FashionMnist bars(int n, long seed) {
        Rng r = new Rng(seed);
        int per = 32 * 32;
        byte[] px = new byte[n * per];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int k = i % 10;
            labels[i] = k;
            for (int p = 0; p < per; p++) {
                int y = p / 32, x = p % 32;
                boolean bar = (y == 3 * k || y == 3 * k + 1) && x >= 4 && x < 28;
                int v = bar ? 200 + r.nextInt(56) : r.nextInt(60);
                px[i * per + p] = (byte) v;
            }
        }
        return new FashionMnist(px, labels, n);
    }

    private static ClassifierTrainer.Settings quick(int epochs, int trainLimit, int testLimit) {
        return new ClassifierTrainer.Settings(epochs, 32, 3e-3, 0.01, 10, 0, 0, 1, true, 7, trainLimit, testLimit, DType.F32);
    }

    @Test
    void learnsSyntheticClassesAndWritesALoadableFolder() throws IOException {
        FashionMnist train = bars(640, 1), test = bars(200, 2);
        Path out = dir.resolve("clf");
        var result = new ClassifierTrainer(SMALL, quick(3, 0, 0), null, null).train(train, test, out);
        assertTrue(result.trainLoss()[2] < 0.5 * result.trainLoss()[0], "loss falls: " + Arrays.toString(result.trainLoss()));
        assertTrue(result.finalAccuracy() > 0.9, "separable classes learned: " + result.finalAccuracy());
        assertEquals(60, result.steps());
        for (String f : new String[]{"config.json", "model.safetensors", "train.log"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        assertTrue(Files.readString(out.resolve("train.log")).contains("epoch 3/3"));
        try (FashionClassifier loaded = FashionClassifier.load(out)) {
            assertArrayEquals(SMALL.channels(), loaded.config().channels());
            FeatureMap images = ClassifierTrainer.images(test, test.count());
            double acc = ClassifierTrainer.accuracy(loaded.predict(images), test.labels());
            assertEquals(result.finalAccuracy(), acc, 1e-12, "the saved weights are the measured ones");
            // RGB input (grey repeated) is judged like the grey image
            float[] rgb = new float[images.data().length * 3];
            for (int i = 0; i < images.data().length; i++) Arrays.fill(rgb, 3 * i, 3 * i + 3, images.data()[i]);
            assertArrayEquals(loaded.predict(images), loaded.predict(new FeatureMap(rgb, test.count(), 32, 32, 3)));
        }
    }

    @Test
    void learnsFashionMnistFromATinySubset() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "dataset-fashion-mnist not installed");
        FashionMnist train = FashionMnist.train(FashionMnist.DEFAULT_DIR), test = FashionMnist.test(FashionMnist.DEFAULT_DIR);
        var result = new ClassifierTrainer(SMALL, quick(3, 960, 1000), null, null).train(train, test, null);
        assertTrue(result.trainLoss()[2] < 0.8 * result.trainLoss()[0], "loss falls: " + Arrays.toString(result.trainLoss()));
        assertTrue(result.finalAccuracy() > 0.5, "well above chance (0.1) on 1000 test images: " + result.finalAccuracy());
    }

    @Test
    void rejectsBadSettings() {
        var s = new ClassifierTrainer.Settings(0, 32, 1e-3, 0, 0, 0, 0, 0, false, 1, 0, 0, DType.F32);
        assertThrows(IllegalArgumentException.class, () -> new ClassifierTrainer(SMALL, s, null, null));
        var wrongSize = new FashionClassifierConfig(16, 1, new int[]{8}, new int[]{1}, 4, 1e-5, 10, true, 16);
        assertThrows(IllegalArgumentException.class, () -> new ClassifierTrainer(wrongSize, quick(1, 0, 0), null, null).train(bars(64, 1), bars(20, 2), null));
    }
}
