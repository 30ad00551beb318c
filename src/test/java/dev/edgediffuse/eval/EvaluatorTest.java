package dev.edgediffuse.eval;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.*;

/** The evaluator's figures on stand-in generators whose right answers are known. */
class EvaluatorTest {
    static final Path SHIPPED = BuiltInModel.FASHION_CLASSIFIER.unpack(null);

    /** A generator that answers job i with {@code image.apply(i)} as a 3-channel (grey repeated) image. */
    static ImageGenerator fake(String name, int batch, IntFunction<float[]> image) {
        return new ImageGenerator() {
            @Override
            public List<FeatureMap> generate(List<EvalPlan.Job> jobs) {
                List<FeatureMap> out = new ArrayList<>();
                for (EvalPlan.Job j : jobs) {
                    float[] grey = image.apply(j.index()), rgb = new float[grey.length * 3];
                    for (int p = 0; p < grey.length; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = grey[p];
                    out.add(new FeatureMap(rgb, 1, 32, 32, 3));
                }
                return out;
            }

            @Override
            public String name() {
                return name;
            }

            @Override
            public int preferredBatch() {
                return batch;
            }
        };
    }

    /** {@code g} with an autoencoder whose round trip is {@code roundTrip}. */
    static ImageGenerator withRoundTrip(ImageGenerator g, java.util.function.UnaryOperator<FeatureMap> roundTrip) {
        return new ImageGenerator() {
            @Override
            public List<FeatureMap> generate(List<EvalPlan.Job> jobs) {
                return g.generate(jobs);
            }

            @Override
            public FeatureMap reconstruct(FeatureMap images) {
                assertEquals(3, images.channels());
                return roundTrip.apply(images);
            }

            @Override
            public String name() {
                return g.name();
            }

            @Override
            public int preferredBatch() {
                return g.preferredBatch();
            }
        };
    }

    /** Index of the k-th image of class c in {@code data}. */
    static int[][] byClass(FashionMnist data) {
        List<List<Integer>> lists = new ArrayList<>();
        for (int c = 0; c < 10; c++) lists.add(new ArrayList<>());
        for (int i = 0; i < data.count(); i++) lists.get(data.labels()[i]).add(i);
        int[][] out = new int[10][];
        for (int c = 0; c < 10; c++) out[c] = lists.get(c).stream().mapToInt(Integer::intValue).toArray();
        return out;
    }

    static FashionClassifier randomClassifier() {
        var config = new FashionClassifierConfig(32, 1, new int[]{8, 16}, new int[]{0, 1}, 4, 1e-5, 10);
        Parameters p = Parameters.initialize(FashionClassifier.tensorShapes(config), new Rng(5));
        return new FashionClassifier(config, p.weights("random"));
    }

    /** Images with class-dependent smooth patterns, values kept in [0.2, 0.8] of the range (no clamping). */
    static float[] pattern(int i) {
        float[] g = new float[32 * 32];
        int c = i % 10;
        for (int p = 0; p < g.length; p++) {
            int y = p / 32, x = p % 32;
            double u = 0.5 + 0.3 * Math.sin((c + 1) * 0.2 * x + 0.15 * y + i);
            g[p] = (float) (2 * Math.round(u * 255) / 255.0 - 1);
        }
        return g;
    }

    static FashionMnist synthetic(int n) {
        byte[] px = new byte[n * 1024];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 10;
            float[] g = pattern(i);
            for (int p = 0; p < 1024; p++) px[i * 1024 + p] = (byte) Math.round((g[p] + 1) * 127.5f);
        }
        return new FashionMnist(px, labels, n);
    }

    @Test
    void planCyclesClassesWithSeededCaptions() {
        EvalPlan a = EvalPlan.of(25, 7), b = EvalPlan.of(25, 7), c = EvalPlan.of(25, 8);
        assertEquals(a, b, "deterministic");
        Set<String> templates = new HashSet<>();
        for (EvalPlan.Job j : a.jobs()) {
            assertEquals(j.index() % 10, j.label());
            assertEquals(7 + j.index(), j.seed());
            assertTrue(j.prompt().contains(FashionMnist.CLASSES[j.label()]), j.prompt());
            templates.add(j.prompt().replace(FashionMnist.CLASSES[j.label()], "X").replace("an X", "a X"));
        }
        assertTrue(templates.size() > 3, "caption templates vary: " + templates);
        assertNotEquals(a.jobs().stream().map(EvalPlan.Job::prompt).toList(), c.jobs().stream().map(EvalPlan.Job::prompt).toList());
        assertThrows(IllegalArgumentException.class, () -> EvalPlan.of(0, 1));
        EvalPlan held = EvalPlan.heldOut(250, 7);
        var prompts = dev.edgediffuse.data.HeldOutPrompts.all();
        for (EvalPlan.Job j : held.jobs()) {
            assertEquals(prompts.get(j.index() % prompts.size()).text(), j.prompt());
            assertEquals(prompts.get(j.index() % prompts.size()).label(), j.label());
            assertEquals(7 + EvalPlan.HELD_OUT_SEED_OFFSET + j.index(), j.seed());
        }
    }

    @Test
    void perClassAccuracyCounts() {
        int[] labels = {0, 1, 2, 0, 1, 2, 0};
        int[] predicted = {0, 1, 0, 0, 2, 2, 1};
        var acc = EvalReport.Accuracy.of(predicted, labels, 3);
        assertArrayEquals(new int[]{2, 1, 1}, acc.correct());
        assertArrayEquals(new int[]{3, 2, 2}, acc.total());
        assertEquals(4 / 7.0, acc.overall(), 1e-12);
        assertEquals(0.5, acc.of(1), 1e-12);
    }

    @Test
    void balancedTrainSubsetHasDistinctImagesOfEachClassInTurn() {
        FashionMnist data = synthetic(300);
        int[] idx = Evaluator.balancedSubset(data, 95, 3);
        assertEquals(95, idx.length);
        assertEquals(95, java.util.Arrays.stream(idx).distinct().count());
        for (int i = 0; i < idx.length; i++) assertEquals(i % 10, data.labels()[idx[i]]);
        assertArrayEquals(idx, Evaluator.balancedSubset(data, 95, 3));
    }

    @Test
    void aModelAgainstItselfAndAgainstAShiftedCopy() {
        FashionMnist test = synthetic(200), train = synthetic(300);
        try (FashionClassifier classifier = randomClassifier()) {
            Evaluator ev = new Evaluator(classifier, train, test, null);
            EvalPlan plan = EvalPlan.of(30, 1);
            EvalReport self = ev.evaluate(fake("m", 7, EvaluatorTest::pattern), fake("m", 7, EvaluatorTest::pattern), plan,
                    new Evaluator.Options(2, 12));
            assertEquals(Evaluator.PSNR_CAP, self.fidelity().psnrMean(), 0);
            assertEquals(30, self.fidelity().identicalImages());
            assertEquals(1.0, self.fidelity().ssimMean(), 1e-9);
            assertEquals(0, self.fidelity().classChanges());
            assertEquals(self.fid(), self.fidelity().referenceFid(), 0);
            assertEquals(2, self.latency().runs());
            assertEquals(12, self.grid().images().size());
            assertEquals(30, self.throughput().images());
            assertEquals(7, self.throughput().batch());

            // every value 8 levels brighter: MSE = (8/255)², PSNR = 20·log10(255/8)
            EvalReport shifted = ev.evaluate(fake("m", 7, EvaluatorTest::pattern), fake("bright", 7, i -> {
                float[] g = pattern(i);
                for (int p = 0; p < g.length; p++) g[p] += 16f / 255f;
                return g;
            }), plan, new Evaluator.Options(0, 0));
            assertEquals(20 * Math.log10(255 / 8.0), shifted.fidelity().psnrMean(), 1e-3);
            assertEquals(shifted.fidelity().psnrMean(), shifted.fidelity().psnrMin(), 1e-3);
            assertEquals(0, shifted.fidelity().identicalImages());
            assertTrue(shifted.fidelity().ssimMean() < 1 && shifted.fidelity().ssimMean() > 0.9, "SSIM " + shifted.fidelity().ssimMean());
            assertNull(shifted.latency());

            // negated images: count the class changes independently
            EvalReport negated = ev.evaluate(fake("m", 4, EvaluatorTest::pattern), fake("negated", 4, i -> {
                float[] g = pattern(i);
                for (int p = 0; p < g.length; p++) g[p] = -g[p];
                return g;
            }), plan, new Evaluator.Options(0, 0));
            int changes = 0;
            for (int i = 0; i < 30; i++) {
                float[] g = pattern(i), n = g.clone();
                for (int p = 0; p < n.length; p++) n[p] = -n[p];
                int a = classifier.predict(new FeatureMap(g, 1, 32, 32, 1))[0], b = classifier.predict(new FeatureMap(n, 1, 32, 32, 1))[0];
                if (a != b) changes++;
            }
            assertEquals(changes, negated.fidelity().classChanges());
            assertEquals(changes / 30.0, negated.fidelity().classChangeShare(), 1e-12);

            Map<String, Object> json = Json.parseObject(self.json(Map.of("steps", 3)), "report");
            assertEquals(30, ((Number) json.get("samples")).intValue());
            @SuppressWarnings("unchecked") Map<String, Object> fid = (Map<String, Object>) json.get("fid");
            assertEquals(self.fid(), ((Number) fid.get("fid")).doubleValue(), 1e-9);
            @SuppressWarnings("unchecked") Map<String, Object> fidelity = (Map<String, Object>) json.get("fidelity");
            assertEquals(0, ((Number) fidelity.get("class_changes")).intValue());
            assertTrue(self.text().contains("fidelity to m: PSNR 100.00 dB"), self.text());
        }
    }

    @Test
    void realTestImagesOfThePromptedClassScoreTheClassifiersAccuracy() {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "dataset-fashion-mnist not installed");
        FashionMnist fullTest = FashionMnist.test(FashionMnist.DEFAULT_DIR), train = FashionMnist.train(FashionMnist.DEFAULT_DIR);
        FashionMnist test = Evaluator.first(fullTest, 3000);
        int[][] classIndex = byClass(fullTest);
        int n = 1000;
        // generated image i = the (i/10)-th test image of class i mod 10, from the part of the test set not used as "real"
        IntFunction<float[]> right = i -> fullTest.image(classIndex[i % 10][classIndex[i % 10].length - 1 - i / 10]);
        IntFunction<float[]> wrong = i -> right.apply(i + 1);
        try (FashionClassifier classifier = FashionClassifier.load(SHIPPED)) {
            Evaluator ev = new Evaluator(classifier, train, test, null);
            EvalPlan plan = EvalPlan.of(n, 0);
            EvalReport good = ev.evaluate(fake("real", 50, right), null, plan, new Evaluator.Options(0, 0));
            // the same images through the classifier directly
            float[] grey = new float[n * 1024];
            for (int i = 0; i < n; i++) System.arraycopy(right.apply(i), 0, grey, i * 1024, 1024);
            int[] pred = classifier.predict(new FeatureMap(grey, n, 32, 32, 1));
            assertEquals(Evaluator.accuracy(pred, plan.labels()), good.accuracy().overall(), 1e-12);
            assertEquals(ev.classifierTestAccuracy(), good.accuracy().overall(), 0.03, "real images score about the classifier's accuracy");
            assertTrue(good.accuracy().overall() > 0.88, "shipped classifier: " + good.accuracy().overall());
            assertNotNull(good.floor());
            assertEquals(n, good.floor().images());
            assertTrue(good.fid() < 2 * good.floor().fid() + 0.5, "real test images are as close to the test set as real train images: "
                    + good.fid() + " vs floor " + good.floor().fid());
            assertTrue(Double.isNaN(good.floor().autoencoderFid()), "no autoencoder, no ceiling");
            List<EvalReport.Blurred> blurred = good.floor().blurred();
            assertEquals(Evaluator.BLUR_SIGMAS.length, blurred.size());
            assertTrue(blurred.get(0).fid() > good.floor().fid() && blurred.get(1).fid() > blurred.get(0).fid(), "more blur, further from the test set: "
                    + blurred + " vs floor " + good.floor().fid());
            assertTrue(good.text().contains("blurred real images: ") && good.json(java.util.Map.of()).contains("\"blurred_real_fid\""), good.text());

            // the autoencoder ceiling: a lossless round trip scores the floor itself, a destructive one far worse
            EvalReport lossless = ev.evaluate(withRoundTrip(fake("real", 50, right), img -> img), null, plan, new Evaluator.Options(0, 0));
            assertEquals(good.floor().fid(), lossless.floor().autoencoderFid(), 1e-6 * good.floor().fid());
            EvalReport destructive = ev.evaluate(withRoundTrip(fake("real", 50, right), img -> {
                float[] d = img.data().clone();
                for (int i = 0; i < d.length; i++) d[i] = -1f;
                return new FeatureMap(d, img.batch(), img.height(), img.width(), img.channels());
            }), null, plan, new Evaluator.Options(0, 0));
            assertTrue(destructive.floor().autoencoderFid() > 20 * good.floor().fid(), "blanked round trip: " + destructive.floor().autoencoderFid());
            assertTrue(destructive.text().contains("autoencoder ceiling: "), destructive.text());

            // held-out prompts: the accuracy of images of the prompted class, by label (not by index)
            EvalPlan heldOut = EvalPlan.heldOut(300, 0);
            IntFunction<float[]> byLabel = i -> fullTest.image(classIndex[heldOut.jobs().get(i).label()][i]);
            EvalReport.Accuracy held = ev.accuracy(fake("real", 50, byLabel), heldOut);
            assertEquals(300, java.util.Arrays.stream(held.total()).sum());
            assertEquals(ev.classifierTestAccuracy(), held.overall(), 0.05, "real images of the held-out prompts' classes");
            EvalReport withHeld = good.withHeldOut(held);
            assertTrue(withHeld.text().contains("held-out everyday prompts") && withHeld.json(java.util.Map.of()).contains("\"held_out_prompt_accuracy\""));
            assertTrue(ev.accuracy(fake("wrong", 50, i -> byLabel.apply((i + 11) % 300)), heldOut).overall() < 0.3);

            EvalReport bad = ev.evaluate(fake("shifted labels", 50, wrong), null, plan, new Evaluator.Options(0, 0));
            assertTrue(bad.accuracy().overall() < 0.1, "images of the next class: " + bad.accuracy().overall());

            EvalReport blank = ev.evaluate(fake("blank", 50, i -> {
                float[] g = new float[1024];
                java.util.Arrays.fill(g, -1f);
                return g;
            }), null, plan, new Evaluator.Options(0, 0));
            assertTrue(blank.fid() > 20 * good.floor().fid(), "blank images are far from real ones: " + blank.fid());
            assertTrue(blank.accuracy().overall() <= 0.1 + 1e-9, "one class at most: " + blank.accuracy().overall());
        }
    }
}
