package dev.edgediffuse.cli;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.testing.TinyCheckpoints;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.edgediffuse.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * --tome and --deepcache in every command that generates: on a quantized model, recorded in the PNG, bench's runs
 * side by side, eval against an unaccelerated reference, and bad values as one-line errors naming the option.
 */
class SpeedUpCommandsTest {
    @TempDir
    static Path dir;
    static Path tiny, q4;

    @BeforeAll
    static void write() throws IOException {
        tiny = TinyCheckpoints.write(dir).folder();
        q4 = dir.resolve("tiny-q4");
        GenerateCommandTest.Run c = run("convert", "--model", tiny.toString(), "--weights", "q4_32", "--out", q4.toString());
        assertEquals(0, c.code(), c.err());
    }

    static String params(Path png) throws IOException {
        return new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
    }

    static GenerateCommandTest.Run generate(Path model, Path out, String... extra) {
        return run(GenerateCommandTest.gen(model, out, extra));
    }

    @Test
    void generateOnAQuantizedModelRecordsTheSpeedUps() throws IOException {
        Path plain = dir.resolve("plain.png"), fast = dir.resolve("fast.png");
        assertEquals(0, generate(q4, plain, "--steps", "10").code());
        GenerateCommandTest.Run r = generate(q4, fast, "--steps", "10", "--tome", "0.5", "--tome-fixed-partition", "--deepcache", "3,1");
        assertEquals(0, r.code(), r.err());
        assertTrue(params(fast).contains("Token merging ratio: 0.5, Token merging partition: fixed, DeepCache interval: 3, DeepCache branch: 1"),
                params(fast).substring(0, 300));
        assertFalse(params(plain).contains("Token merging"));
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(plain), Files.readAllBytes(fast)));
    }

    @Test
    void aModelsDefaultSpeedUpsApplyWhereTheRunLeavesThemOut() throws IOException {
        Path fastModel = dir.resolve("tiny-fast");
        dev.edgediffuse.workflow.SpeedupsStageAccess.writeDefaults(tiny, fastModel, "{\"steps\": 10, \"scheduler\": \"euler\", "
                + "\"token_merging_ratio\": 0.5, \"deepcache_interval\": 3}");
        Path byDefault = dir.resolve("default.png"), explicit = dir.resolve("explicit.png"), plain = dir.resolve("plain10.png"),
                overridden = dir.resolve("overridden.png");
        GenerateCommandTest.Run first = generate(fastModel, byDefault, "--steps", "10");
        assertEquals(0, first.code(), first.err());
        assertEquals(0, generate(tiny, explicit, "--steps", "10", "--scheduler", "euler", "--tome", "0.5", "--deepcache", "3").code());
        assertEquals(0, generate(tiny, plain, "--steps", "10", "--scheduler", "euler").code());
        assertEquals(0, generate(fastModel, overridden, "--steps", "10", "--tome", "0.5", "--deepcache", "3").code());
        assertTrue(params(byDefault).contains("Token merging ratio: 0.5") && params(byDefault).contains("DeepCache interval: 3"));
        assertTrue(java.util.Arrays.equals(pixels(explicit), pixels(byDefault)), "the defaults act as the options would");
        assertTrue(java.util.Arrays.equals(pixels(overridden), pixels(byDefault)));
        assertFalse(java.util.Arrays.equals(pixels(plain), pixels(byDefault)), "and they do act");
        GenerateCommandTest.Run few = generate(fastModel, dir.resolve("few.png"), "--steps", "4");
        assertEquals(0, few.code(), "a default DeepCache is left out where the run's steps cannot take it: " + few.err());
        assertFalse(params(dir.resolve("few.png")).contains("DeepCache"));
    }

    private static byte[] pixels(Path png) {
        return dev.edgediffuse.format.Images.toRgb(dev.edgediffuse.format.Images.read(png), 0);
    }

    @Test
    void gridTakesThem() throws IOException {
        Path png = dir.resolve("grid.png");
        GenerateCommandTest.Run r = run("grid", "--model", tiny.toString(), "--out", png.toString(), "--prompts", "a fox|a cat",
                "--seeds", "2", "--steps", "10", "--width", "64", "--height", "64", "--tome", "0.3", "--deepcache", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(params(png).contains("Token merging ratio: 0.3, DeepCache interval: 2, DeepCache branch: 0"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void benchTimesEachRunInTheSameProcess() {
        GenerateCommandTest.Run r = run("bench", "--model", tiny.toString(), "--sizes", "64", "--steps", "10", "--tome", "0.5",
                "--deepcache", "3", "--attention-share", "--json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> m = Json.parseObject(r.out().strip(), "bench");
        List<Map<String, Object>> runs = (List<Map<String, Object>>) m.get("variants");
        assertEquals(List.of("none", "tome 0.5", "deepcache 3,0", "tome 0.5 + deepcache 3,0"), runs.stream().map(v -> v.get("run")).toList());
        double full = ((Number) runs.get(0).get("unet_step_gflop")).doubleValue(), cached = ((Number) runs.get(2).get("unet_step_gflop")).doubleValue();
        assertTrue(cached < 0.7 * full, "DeepCache's shallow steps do less work: " + cached + " vs " + full);
        assertEquals(1, ((List<?>) m.get("attention_share")).size());
    }

    @Test
    @SuppressWarnings("unchecked")
    void evalMeasuresTheSpeedUpsAgainstAnUnacceleratedReference() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "dataset-fashion-mnist not installed");
        Path json = dir.resolve("eval.json");
        GenerateCommandTest.Run r = run("eval", "--model", tiny.toString(), "--reference", tiny.toString(), "--samples", "6",
                "--steps", "10", "--size", "64", "--latency-runs", "0", "--test-limit", "100", "--tome", "0.5", "--deepcache", "2",
                "--json", json.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> report = Json.parseObject(Files.readString(json), "");
        Map<String, Object> fidelity = (Map<String, Object>) report.get("fidelity");
        assertEquals(0, ((Number) fidelity.get("identical_images")).intValue(), "the reference runs without the speed-ups");
        assertTrue(Files.readString(json).contains("Token merging ratio: 0.5, DeepCache interval: 2"));
    }

    @Test
    void badValuesAreOneLineErrorsNamingTheOption() {
        Path out = dir.resolve("bad.png");
        assertOneLine(generate(tiny, out, "--tome", "1"), 2, "--tome must be a ratio in [0, 1), got 1.0");
        assertOneLine(generate(tiny, out, "--tome", "half"), 2, "--tome");
        assertOneLine(generate(tiny, out, "--tome-cross-attention"), 2, "need --tome RATIO");
        assertOneLine(generate(tiny, out, "--tome", "0.5", "--tome-max-downsample", "3"), 2, "--tome-max-downsample must be 1, 2, 4 or 8");
        assertOneLine(generate(tiny, out, "--deepcache", "1"), 2, "--deepcache N needs N >= 2");
        assertOneLine(generate(tiny, out, "--deepcache", "3,x"), 2, "--deepcache must be N or N,BRANCH");
        assertOneLine(generate(tiny, out, "--deepcache", "3"), 1, "--deepcache needs at least 10 steps, got 3");
        assertOneLine(generate(tiny, out, "--deepcache", "3", "--steps", "10", "--scheduler", "lcm"), 1, "--deepcache does not apply to the lcm scheduler");
        assertOneLine(generate(tiny, out, "--deepcache", "3,4", "--steps", "10"), 1, "--deepcache branch 4 does not exist");
        assertOneLine(run("bench", "--model", tiny.toString(), "--sizes", "64", "--deepcache", "3"), 1, "--deepcache needs at least 10 steps");
    }

    private static void assertOneLine(GenerateCommandTest.Run r, int code, String fragment) {
        assertEquals(code, r.code(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains(fragment), "'" + fragment + "' in: " + r.err());
    }
}
