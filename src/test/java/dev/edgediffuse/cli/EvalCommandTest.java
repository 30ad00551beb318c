package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.tensor.DType;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** edgediffuse eval end to end on tiny random-weight checkpoints, and its answers to bad input. */
class EvalCommandTest {
    @TempDir
    static Path dir;
    static Path tiny, tinyOther;

    @BeforeAll
    static void writeCheckpoints() throws IOException {
        tiny = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(tiny, ModelConfigs.builtIn("tiny"), DType.F32, 7);
        tinyOther = dir.resolve("tiny-other");
        RandomCheckpoint.writeFolder(tinyOther, ModelConfigs.builtIn("tiny"), DType.F16, 7);
    }

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static void assumeData() {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "dataset-fashion-mnist not installed");
    }

    @Test
    void aModelCachedAloneServesAsAnotherRunsReferenceCache() throws IOException {
        assumeData();
        Path cache = dir.resolve("images-of-tiny");
        String[] common = {"--samples", "6", "--steps", "2", "--batch", "6", "--latency-runs", "0", "--test-limit", "200", "--seed", "5"};
        Run alone = run(concat(new String[]{"eval", "--model", tiny.toString(), "--cache", cache.toString()}, common));
        assertEquals(0, alone.code, alone.err);
        long cached;
        try (var files = Files.list(cache)) {
            cached = files.filter(f -> f.toString().endsWith(".npy")).count();
        }
        assertEquals(6, cached);
        Run direct = run(concat(new String[]{"eval", "--model", tinyOther.toString(), "--reference", tiny.toString()}, common));
        Run viaCache = run(concat(new String[]{"eval", "--model", tinyOther.toString(), "--reference", tiny.toString(),
                "--reference-cache", cache.toString()}, common));
        assertEquals(0, viaCache.code, viaCache.err);
        assertEquals(fidelityLine(direct.out), fidelityLine(viaCache.out), "the cached images are the reference's");
        String[] threeSteps = concat(new String[]{"eval", "--model", tinyOther.toString(), "--reference", tiny.toString(),
                "--reference-cache", cache.toString()}, common);
        threeSteps[java.util.Arrays.asList(threeSteps).indexOf("--steps") + 1] = "3";
        Run refused = run(threeSteps);
        assertTrue(refused.code != 0 && refused.err.contains("caches another reference or settings"), refused.err);
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String fidelityLine(String out) {
        return out.lines().filter(l -> l.contains("fidelity to ")).findFirst().orElseThrow(() -> new AssertionError("no fidelity line: " + out));
    }

    @Test
    @SuppressWarnings("unchecked")
    void measuresATinyModelAgainstItsF16Copy() throws IOException {
        assumeData();
        Path json = dir.resolve("report.json"), grid = dir.resolve("grid.png");
        Run r = run("eval", "--model", tiny.toString(), "--reference", tinyOther.toString(), "--samples", "20", "--steps", "2",
                "--batch", "6", "--latency-runs", "1", "--test-limit", "500", "--seed", "3", "--json", json.toString(),
                "--grid", grid.toString());
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.contains("prompt accuracy: "), r.out);
        assertTrue(r.out.contains("real-vs-real floor: "), r.out);
        assertTrue(r.out.contains("judged at 10000 vs 10000 images only"), "20 images do not judge the FID target: " + r.out);
        assertTrue(r.out.contains("autoencoder ceiling: "), r.out);
        assertTrue(r.out.contains("latency (one image, batch 1): median"), r.out);
        assertTrue(r.out.contains("fidelity to "), r.out);
        assertTrue(r.err.contains("generate 20/20"), r.err);
        Map<String, Object> report = Json.parseObject(Files.readString(json), json.toString());
        assertEquals(20, ((Number) report.get("samples")).intValue());
        Map<String, Object> acc = (Map<String, Object>) report.get("prompt_accuracy");
        Map<String, Object> perClass = (Map<String, Object>) acc.get("per_class");
        assertEquals(10, perClass.size());
        assertEquals(2, ((Number) ((Map<String, Object>) perClass.get("sneaker")).get("total")).intValue());
        assertTrue(((Map<String, Object>) report.get("targets")).get("fid_ratio_met") == null);
        Map<String, Object> fid = (Map<String, Object>) report.get("fid");
        assertTrue(((Number) fid.get("fid")).doubleValue() > 0);
        assertEquals(500, ((Number) fid.get("test_images")).intValue());
        Map<String, Object> fidelity = (Map<String, Object>) report.get("fidelity");
        double psnr = ((Number) fidelity.get("psnr_mean_db")).doubleValue();
        assertTrue(psnr > 25, "f16 weights stay close to f32: PSNR " + psnr);
        Map<String, Object> gen = (Map<String, Object>) report.get("generation");
        assertTrue(((Number) gen.get("images_per_second")).doubleValue() > 0);
        java.awt.image.BufferedImage sheet = javax.imageio.ImageIO.read(grid.toFile());
        assertEquals(320, sheet.getWidth());
        assertEquals(64, sheet.getHeight());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aModelAgainstItselfIsIdentical() throws IOException {
        assumeData();
        Path json = dir.resolve("self.json");
        Run r = run("eval", "--model", tiny.toString(), "--reference", tiny.toString(), "--samples", "10", "--steps", "2",
                "--latency-runs", "0", "--test-limit", "200", "--scheduler", "euler", "--cfg", "3", "--json", json.toString(), "--quiet");
        assertEquals(0, r.code, r.err);
        assertFalse(r.err.contains("generate 10/10"), "--quiet: no progress bar");
        Map<String, Object> fidelity = (Map<String, Object>) Json.parseObject(Files.readString(json), "").get("fidelity");
        assertEquals(100.0, ((Number) fidelity.get("psnr_mean_db")).doubleValue());
        assertEquals(1.0, ((Number) fidelity.get("ssim_mean")).doubleValue(), 1e-12);
        assertEquals(0, ((Number) fidelity.get("class_changes")).intValue());
        assertEquals(10, ((Number) fidelity.get("identical_images")).intValue());
    }

    private static void assertOneLineError(Run r, int code, String... fragments) {
        assertEquals(code, r.code, r.out + r.err);
        assertEquals(1, r.err.strip().lines().count(), "one line: " + r.err);
        for (String f : fragments) assertTrue(r.err.contains(f), "'" + f + "' in: " + r.err);
        assertTrue(r.out.isEmpty(), r.out);
    }

    @Test
    void badInputGivesOneLineErrors() {
        assertOneLineError(run("eval", "--model", tiny.toString(), "--samples", "0"), 2, "--samples must be >= 1");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--samples", "x"), 2, "--samples must be an integer");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--steps", "0"), 2, "--steps");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--batch", "0"), 2, "--batch");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--size", "30"), 2, "--size");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--bogus", "1"), 2, "unknown option --bogus");
        Path missing = dir.resolve("no-classifier");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--classifier", missing.toString()), 1, missing.toString(), "not found");
        Path noData = dir.resolve("no-data");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--data", noData.toString()), 1, noData.toString(), "dataset-fashion-mnist");
    }

    @Test
    void badModelsGiveOneLineErrors() {
        assumeData();
        Path missing = dir.resolve("no-model");
        assertOneLineError(run("eval", "--model", missing.toString(), "--samples", "2", "--test-limit", "50"), 1, missing.toString());
        assertOneLineError(run("eval", "--model", tiny.toString(), "--samples", "2", "--size", "40", "--test-limit", "50"), 1, "multiples of 16");
        assertOneLineError(run("eval", "--model", tiny.toString(), "--samples", "2", "--scheduler", "nope", "--test-limit", "50"), 1, "--scheduler");
        Path emptyClassifier = dir.resolve("empty-classifier");
        try {
            Files.createDirectories(emptyClassifier);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertOneLineError(run("eval", "--model", tiny.toString(), "--classifier", emptyClassifier.toString(), "--samples", "2"), 1,
                emptyClassifier.resolve("config.json").toString());
    }

    @Test
    void trainClassifierRejectsBadOptions() {
        assertOneLineError(run("train-classifier"), 2, "--out is required");
        assertOneLineError(run("train-classifier", "--out", dir.resolve("c").toString(), "--epochs", "0"), 2, "--epochs");
        assertOneLineError(run("train-classifier", "--out", dir.resolve("c").toString(), "--dtype", "int8"), 2, "--dtype");
        Path noData = dir.resolve("no-data");
        assertOneLineError(run("train-classifier", "--out", dir.resolve("c").toString(), "--data", noData.toString()), 1, noData.toString());
    }
}
