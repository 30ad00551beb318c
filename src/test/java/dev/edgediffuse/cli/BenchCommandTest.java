package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The bench command's report (not its speed): every stage has seconds, FLOP counts and memory. */
class BenchCommandTest {
    @TempDir
    Path dir;

    /** --compare runs more models at the same sizes; a pruned student's UNet work per step is its MAC count's share. */
    @Test
    @SuppressWarnings("unchecked")
    void comparesStudentsWithTheirTeacher() throws IOException {
        Path teacher = dev.edgediffuse.testing.TinyTeacher.write(dir.resolve("teacher"), 1, 2), student = dir.resolve("student");
        assertEquals(0, GenerateCommandTest.run("prune", "--model", teacher.toString(), "--preset", "tiny", "--out", student.toString(), "--quiet").code());
        GenerateCommandTest.Run r = GenerateCommandTest.run("bench", "--model", teacher.toString(), "--compare", student.toString(), "--sizes", "32",
                "--steps", "3", "--json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> report = (Map<String, Object>) Json.parse(r.out().strip());
        Map<String, Object> t = ((List<Map<String, Object>>) report.get("runs")).getFirst();
        Map<String, Object> s = ((List<Map<String, Object>>) report.get("compared")).getFirst();
        assertEquals(student.toString(), s.get("model"));
        double ratio = ((Number) s.get("unet_step_vs_first")).doubleValue();
        assertEquals(((Number) s.get("unet_step_s")).doubleValue() / ((Number) t.get("unet_step_s")).doubleValue(), ratio, 1e-3);
        try (var tc = dev.edgediffuse.checkpoint.Checkpoint.open(teacher, null); var sc = dev.edgediffuse.checkpoint.Checkpoint.open(student, null)) {
            double macs = (double) dev.edgediffuse.prune.UNetMacs.of(sc.unet.config()) / dev.edgediffuse.prune.UNetMacs.of(tc.unet.config());
            double gflop = ((Number) s.get("unet_step_gflop")).doubleValue() / ((Number) t.get("unet_step_gflop")).doubleValue();
            assertEquals(macs, gflop, 0.05, "GFLOP per step follow the MAC counts");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void reportsEveryStageAsJson() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F16, 1);
        GenerateCommandTest.Run r = GenerateCommandTest.run("bench", "--model", model.toString(), "--sizes", "64,128", "--steps", "2", "--json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> report = (Map<String, Object>) Json.parse(r.out().strip());
        assertTrue(((Number) report.get("gemm_ceiling_gflops")).doubleValue() > 0);
        List<Map<String, Object>> runs = (List<Map<String, Object>>) report.get("runs");
        assertEquals(2, runs.size());
        for (String key : List.of("load_s", "text_s", "open_to_first_step_s", "unet_step_s", "unet_step_gflop", "unet_gflops", "vae_s", "vae_gflop", "peak_rss_mib", "unet_step_alloc_mib")) {
            assertTrue(((Number) runs.get(0).get(key)).doubleValue() > 0, key);
        }
        Map<String, Object> first = runs.get(0);
        double load = ((Number) first.get("load_s")).doubleValue(), text = ((Number) first.get("text_s")).doubleValue();
        assertEquals(load + text, ((Number) first.get("open_to_first_step_s")).doubleValue(), 0.0015, "cold start = open + text encoder");
        double g64 = ((Number) runs.get(0).get("unet_step_gflop")).doubleValue();
        double g128 = ((Number) runs.get(1).get("unet_step_gflop")).doubleValue();
        assertTrue(g128 > 3.5 * g64 && g128 < 6 * g64, "4x the pixels costs ~4-5x the UNet work: " + g64 + " vs " + g128);
    }

    @Test
    @SuppressWarnings("unchecked")
    void benchesAConvertedModelAndReportsItsWeights() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F16, 1);
        GenerateCommandTest.Run plain = GenerateCommandTest.run("bench", "--model", model.toString(), "--sizes", "64", "--steps", "2", "--json");
        GenerateCommandTest.Run q8 = GenerateCommandTest.run("bench", "--model", model.toString(), "--weights", "q8", "--sizes", "64", "--steps", "2", "--json");
        assertEquals(0, plain.code(), plain.err());
        assertEquals(0, q8.code(), q8.err());
        Map<String, Object> before = (Map<String, Object>) ((Map<String, Object>) Json.parse(plain.out().strip())).get("weights");
        Map<String, Object> after = (Map<String, Object>) ((Map<String, Object>) Json.parse(q8.out().strip())).get("weights");
        assertEquals(java.util.Set.of("f16"), ((Map<String, Object>) before.get("formats")).keySet());
        Map<String, Object> formats = (Map<String, Object>) after.get("formats");
        assertTrue(((Number) formats.get("q8")).intValue() > 100, after.toString());
        // most of the tiny model is its f16 token embedding; the q8 layers halve the rest
        double mibBefore = ((Number) before.get("mib")).doubleValue(), mibAfter = ((Number) after.get("mib")).doubleValue();
        assertTrue(mibAfter < 0.95 * mibBefore, "q8 weights take less space: " + mibAfter + " vs " + mibBefore + " MiB");
    }
}
