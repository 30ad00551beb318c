package dev.edgediffuse.eval;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Batched evaluation generation gives, image for image, what a single generate call gives (bitwise today; 1e-5 allowed). */
class PipelineGeneratorTest {
    @TempDir
    Path dir;

    @Test
    void batchedImagesEqualSingleGenerateCalls() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F32, 11);
        var sampling = new PipelineGenerator.Sampling(3, 4f, 600, "euler_a", "", 32, 32);
        EvalPlan plan = EvalPlan.of(5, 40);
        List<FeatureMap> batched;
        try (PipelineGenerator g = PipelineGenerator.open(model, sampling, 5)) {
            assertArrayEquals(new int[]{4, 4, 4}, g.latentShape());
            batched = g.generate(plan.jobs());
        }
        assertEquals(5, batched.size());
        try (Pipeline p = Pipeline.load(model)) {
            for (int i : new int[]{0, 3}) {
                EvalPlan.Job j = plan.jobs().get(i);
                GenerateRequest req = GenerateRequest.of(j.prompt()).withSteps(3).withCfg(4f).withCfgMaxTimestep(600).withScheduler("euler_a")
                        .withSeed(j.seed()).withSize(32, 32).withNegativePrompt("");
                FeatureMap single = p.generate(req).image();
                assertArrayEquals(single.data(), batched.get(i).data(), 1e-5f, "image " + i + " (" + j.prompt() + ", seed " + j.seed() + ")");
            }
        }
        assertFalse(java.util.Arrays.equals(batched.get(0).data(), batched.get(1).data()), "different prompts and seeds, different images");
    }

    @Test
    void settingsTheModelCannotTakeAreRejectedAtOpen() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F32, 11);
        var e = assertThrows(IllegalArgumentException.class,
                () -> PipelineGenerator.open(model, new PipelineGenerator.Sampling(3, 4f, 1000, "euler_a", "", 40, 40), 2));
        assertTrue(e.getMessage().contains("multiples of 16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> PipelineGenerator.open(model, new PipelineGenerator.Sampling(3, 4f, 1000, "bogus", "", 32, 32), 2));
        assertTrue(e.getMessage().contains("--scheduler"), e.getMessage());
    }
}
