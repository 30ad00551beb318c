package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.cli.MainRunner;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * compress end to end on a tiny random checkpoint: post-training stages (sampling change, calibrate with sensitivity,
 * a 6-bit mixed-precision plan, token merging written into the sampling defaults) run, the model and its report are
 * written; a re-run does no work; a changed stage reruns from there only; bad recipes fail before anything runs.
 */
class CompressWorkflowTest {
    @TempDir
    static Path dir;
    static Path model, recipe, out;
    static MainRunner.Run first;

    static final String STAGES = """
            [{"stage": "speedups", "steps": 3, "scheduler": "euler"},
             {"stage": "calibrate", "prompts": "general", "count": 2, "width": 64, "height": 64, "keep_steps": 2, "keep_prompts": 2,
              "hessian_block": 128},
             {"stage": "quantize", "target_bits": BITS},
             {"stage": "speedups", "tome": 0.5}]""";
    static final String REPORT = """
            {"quality": "fidelity", "size": 64, "prompts": ["a red fox", "a blue car"], "seeds": [0], "warmup_seconds": 0, "timed_seconds": 0}""";

    static Path recipe(String name, String stages) throws IOException {
        Path f = dir.resolve(name + ".json");
        Files.writeString(f, "{\"name\": \"" + name + "\", \"description\": \"a test\", \"stages\": " + stages + ", \"report\": " + REPORT + "}");
        return f;
    }

    @BeforeAll
    static void compress() throws IOException {
        model = TinyCheckpoints.write(dir).folder();
        recipe = recipe("tiny", STAGES.replace("BITS", "6"));
        out = dir.resolve("tiny-c");
        first = MainRunner.run("compress", "--recipe", recipe.toString(), "--model", model.toString(), "--out", out.toString(), "--quiet");
    }

    @Test
    @SuppressWarnings("unchecked")
    void postTrainingStagesWriteTheModelAndItsReport() throws IOException {
        assertEquals(0, first.code(), first.err());
        assertTrue(first.out().contains("4 of 4 stages ran (0 cached)"), first.out());
        assertTrue(first.out().contains("smaller"), "the headline on stdout: " + first.out());
        SamplingDefaults d = SamplingDefaults.of(out);
        assertEquals(3, d.steps());
        assertEquals("euler", d.scheduler());
        assertEquals(0.5, d.speedUps().tokenMerge().ratio(), "the speedups stage's token merging ships in the defaults");
        assertTrue(Files.isRegularFile(out.resolve("quant_plan.json")), "the quantize stage's plan");

        Map<String, Object> report = Json.parseObject(Files.readString(out.resolve(CompressReport.JSON)), "report");
        List<Map<String, Object>> variants = (List<Map<String, Object>>) report.get("variants");
        assertEquals(List.of("original", "#1 speedups", "#3 quantize", "#4 speedups"), variants.stream().map(v -> v.get("label")).toList(),
                "calibrate makes no new model, so no variant");
        Map<String, Object> orig = variants.getFirst(), quant = variants.get(2);
        assertTrue(((Number) quant.get("unet_mib")).doubleValue() < 0.5 * ((Number) orig.get("unet_mib")).doubleValue(),
                "6 bits per weight against f32: " + quant.get("unet_mib") + " vs " + orig.get("unet_mib"));
        Map<String, Object> formats = (Map<String, Object>) quant.get("layer_formats");
        assertTrue(formats.values().stream().anyMatch(f -> f.toString().startsWith("q4")) && formats.values().stream().anyMatch(f -> f.equals("q8")),
                "a mix: " + quant.get("unet_formats"));
        for (Map<String, Object> v : variants) {
            assertTrue(((Number) v.get("unet_s_per_image")).doubleValue() > 0 && ((Number) v.get("peak_rss_mib")).doubleValue() > 10, v.toString());
            assertEquals(2, ((List<?>) v.get("grid")).size());
        }
        double ssim = ((Number) variants.get(1).get("grid_ssim")).doubleValue();
        assertTrue(ssim > -1 && ssim < 1, "3 Euler steps against 20 Euler ancestral steps are other images: " + ssim);
        Map<String, Object> h = (Map<String, Object>) report.get("headline");
        assertEquals(((Number) orig.get("size_mib")).doubleValue() / ((Number) variants.getLast().get("size_mib")).doubleValue(),
                ((Number) h.get("smaller")).doubleValue(), 1e-9);

        String html = Files.readString(out.resolve(CompressReport.HTML));
        assertEquals(8, html.split("data:image/png;base64,", -1).length - 1, "2 prompts x 1 seed x 4 variants, embedded");
        assertTrue(html.contains("Apache ECharts") && html.contains("Licensed to the Apache Software Foundation"), "the library's notice and license");
        assertFalse(html.contains("src=\"http"), "self-contained: nothing loaded from elsewhere");
    }

    @Test
    void aRerunDoesNoWork() throws IOException {
        assertEquals(0, first.code(), first.err());
        MainRunner.Run again = MainRunner.run("compress", "--recipe", recipe.toString(), "--model", model.toString(), "--out", out.toString(), "--quiet");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("0 of 4 stages ran (4 cached)"), again.out());
        Workflow.Result r = new Workflow(CompressRecipe.read(recipe, null), dir.resolve("tiny-c.work"), null).run(model);
        assertEquals(0, r.ran());
        assertTrue(r.stages().stream().allMatch(Workflow.StageRun::cached));
    }

    @Test
    void aChangedStageRerunsFromThereOnly() throws IOException {
        assertEquals(0, first.code(), first.err());
        Path changed = recipe("tiny5", STAGES.replace("BITS", "5"));
        Workflow.Result r = new Workflow(CompressRecipe.read(changed, null), dir.resolve("tiny-c.work"), null).run(model);
        assertEquals(List.of(true, true, false, false), r.stages().stream().map(Workflow.StageRun::cached).toList(),
                "speedups and calibrate from the cache; quantize (changed) and the speedups after it again");
        Workflow.Result again = new Workflow(CompressRecipe.read(changed, null), dir.resolve("tiny-c.work"), null).run(model);
        assertEquals(0, again.ran());
        Workflow.Result original = new Workflow(CompressRecipe.read(recipe, null), dir.resolve("tiny-c.work"), null).run(model);
        assertEquals(0, original.ran(), "the first recipe's stages are still there");
    }

    @Test
    void badRecipesFailBeforeAnythingRuns() throws IOException {
        Path missingData = dir.resolve("no-such-data");
        Path distillRecipe = dir.resolve("student.json");
        Files.writeString(distillRecipe, """
                {"name": "s", "teacher": "mini", "data": "%s", "seed": 1, "student": {"preset": "tiny"},
                 "distill": {"steps": 10, "batch": 2, "lr": 0.001, "warmup": 1}}""".formatted(missingData));
        String q = "{\"stage\": \"quantize\", \"weights\": \"q8\"}";
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("[{\"stage\": \"shrink\"}]", "unknown stage \"shrink\" (known: prune, distill, lcm, lora-merge, calibrate, quantize, qat, speedups)");
        cases.put("[" + q + ", {\"stage\": \"prune\", \"preset\": \"tiny\"}]", "stage 2 (prune): cannot follow stage 1 (quantize)");
        cases.put("[" + q + ", {\"stage\": \"distill\", \"recipe\": \"student.json\"}]", "stage 2 (distill): cannot follow stage 1 (quantize)");
        cases.put("[" + q + ", {\"stage\": \"calibrate\"}]", "stage 2 (calibrate): cannot follow stage 1 (quantize)");
        cases.put("[" + q + ", " + q + "]", "stage 2 (quantize): the model is already quantized by stage 1");
        cases.put("[{\"stage\": \"quantize\", \"target_bits\": 5}]", "stage 1 (quantize): needs calibration data of its input");
        cases.put("[{\"stage\": \"calibrate\"}, {\"stage\": \"prune\", \"magnitude\": 0.1}, {\"stage\": \"quantize\", \"rounding\": \"gptq\", \"weights\": \"q4_32\"}]",
                "stage 3 (quantize): needs calibration data of its input");
        cases.put("[{\"stage\": \"calibrate\"}, {\"stage\": \"speedups\", \"steps\": 8}, {\"stage\": \"quantize\", \"target_bits\": 5}]",
                "stage 2 (speedups): changes the steps or scheduler the calibration of stage 1 was recorded with");
        cases.put("[{\"stage\": \"distill\", \"recipe\": \"student.json\"}]", "stage 1 (distill): needs training data, but " + missingData);
        cases.put("[{\"stage\": \"quantize\", \"weights\": \"q8\", \"target_bitz\": 5}]", "stage 1 (quantize): unknown key \"target_bitz\"");
        cases.put("[{\"stage\": \"quantize\", \"target_bits\": \"five\"}]", "stage 1 (quantize): \"target_bits\" must be a number, got \"five\"");
        cases.put("[{\"stage\": \"speedups\", \"tome\": 1.5}]", "stage 1 (speedups): \"tome\" must be in [0, 0.99], got 1.5");
        cases.put("[{\"stage\": \"speedups\", \"deepcache\": 3, \"steps\": 4}]", "stage 1 (speedups): \"deepcache\" needs at least 10 steps");
        cases.put("[{\"stage\": \"lora-merge\", \"lora\": \"none.safetensors\"}]", "stage 1 (lora-merge): \"lora\": ");
        cases.put("[]", "\"stages\" must be a non-empty list");
        int i = 0;
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Path bad = recipe("bad" + i, c.getKey());
            Path o = dir.resolve("bad-out" + i++);
            MainRunner.Run r = MainRunner.run("compress", "--recipe", bad.toString(), "--model", model.toString(), "--out", o.toString(), "--quiet");
            assertNotEquals(0, r.code(), c.getKey());
            String err = r.err().strip();
            assertFalse(err.contains("\n"), "one line: " + err);
            assertTrue(err.contains(c.getValue()), "expected '" + c.getValue() + "' in: " + err);
            assertFalse(Files.exists(o.resolveSibling(o.getFileName() + ".work")), "nothing ran, no work folder: " + c.getKey());
            assertFalse(Files.exists(o));
        }
    }

    @Test
    void aStageThatFailsLeavesNothingAndTheRerunContinuesAfterTheLastFinishedOne() throws IOException {
        Path lora = dir.resolve("broken.safetensors");
        Files.write(lora, new byte[]{1, 2, 3});
        Path broken = recipe("broken", "[{\"stage\": \"speedups\", \"steps\": 4}, {\"stage\": \"lora-merge\", \"lora\": \"broken.safetensors\"}]");
        Path work = dir.resolve("broken.work");
        assertThrows(RuntimeException.class, () -> new Workflow(CompressRecipe.read(broken, null), work, null).run(model));
        try (var files = Files.list(work)) {
            List<String> left = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(1, left.size(), "only the finished stage: " + left);
            assertTrue(left.getFirst().startsWith("01-speedups-"), left.toString());
        }
        Path fixed = recipe("broken", "[{\"stage\": \"speedups\", \"steps\": 4}, {\"stage\": \"speedups\", \"tome\": 0.3}]");
        Workflow.Result r = new Workflow(CompressRecipe.read(fixed, null), work, null).run(model);
        assertEquals(List.of(true, false), r.stages().stream().map(Workflow.StageRun::cached).toList());
        assertEquals(4, SamplingDefaults.of(r.finalModel()).steps());
    }

    @Test
    void pruneThenQuantizeMakesASparseEightBitModel() throws IOException {
        Path r = recipe("pruned", "[{\"stage\": \"prune\", \"magnitude\": 0.5}, {\"stage\": \"quantize\", \"weights\": \"q8\"}]");
        Workflow.Result result = new Workflow(CompressRecipe.read(r, null), dir.resolve("pruned.work"), null).run(model);
        assertTrue(result.stages().stream().allMatch(Workflow.StageRun::newModel));
        try (var pruned = dev.edgediffuse.checkpoint.Checkpoint.open(result.stages().getFirst().model(), null);
             var quant = dev.edgediffuse.checkpoint.Checkpoint.open(result.finalModel(), null)) {
            var w = pruned.unet.tensors().get("down_blocks.0.resnets.0.conv1.weight").get();
            long zeros = 0;
            for (long i = 0; i < w.size(); i++) if (w.get(i) == 0f) zeros++;
            assertEquals(0.5, zeros / (double) w.size(), 0.02, "half of each layer's smallest weights zeroed");
            assertEquals("q8", quant.unet.tensors().get("down_blocks.0.resnets.0.conv1.weight").dtype().formatName());
        }
    }

    @Test
    void theCommittedRecipesAreValid() throws IOException {
        Path data = Files.createDirectories(dir.resolve("data")); // training data is checked to exist; its contents when a stage runs
        List<Path> recipes;
        try (var files = Files.list(Path.of("recipes/compress"))) {
            recipes = files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
        assertTrue(recipes.size() >= 4, recipes.toString());
        for (Path f : recipes) assertFalse(CompressRecipe.read(f, data).stages().isEmpty(), f.toString());
    }
}
