package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.scheduler.SchedulerState;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Denoiser phases reproduce Pipeline.generate bitwise: whole, split and resumed, and batched with other requests. */
class DenoiserTest {
    @TempDir
    static Path dir;
    static Pipeline pipeline;
    static Denoiser denoiser;

    @BeforeAll
    static void load() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F32, 3);
        pipeline = Pipeline.load(model);
        denoiser = Denoiser.load(model, Pipeline.Options.DEFAULT);
    }

    @AfterAll
    static void close() {
        pipeline.close();
        denoiser.close();
    }

    static GenerateRequest req(String scheduler, long seed) {
        return GenerateRequest.of("a lighthouse at dusk").withNegativePrompt("fog").withSize(64, 64).withSteps(5)
                .withScheduler(scheduler).withSeed(seed);
    }

    static GenerateResult run(GenerateRequest r) {
        DenoiseSession s = denoiser.start(r);
        while (!s.done()) denoiser.step(List.of(s));
        return denoiser.finish(s);
    }

    @Test
    void sameAsPipelineForEveryScheduler() {
        for (String name : dev.edgediffuse.scheduler.Schedulers.NAMES) {
            GenerateRequest r = req(name, 11);
            GenerateResult a = pipeline.generate(r, null), b = run(r);
            assertArrayEquals(a.latentsNchw(), b.latentsNchw(), name);
            assertArrayEquals(a.image().data(), b.image().data(), name);
        }
        GenerateRequest unguided = req("euler_a", 2).withCfg(1f);
        assertArrayEquals(pipeline.generate(unguided, null).latentsNchw(), run(unguided).latentsNchw());
    }

    @Test
    void resumedElsewhereEqualsOneRun() throws IOException {
        for (String name : List.of("euler_a", "dpmpp_2m_karras", "lcm", "ddim")) {
            GenerateRequest r = req(name, 4);
            DenoiseSession a = denoiser.start(r);
            for (int i = 0; i < 2; i++) denoiser.step(List.of(a));
            var bytes = new java.io.ByteArrayOutputStream();
            a.schedulerState().write(new java.io.DataOutputStream(bytes));
            SchedulerState state = SchedulerState.read(new java.io.DataInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray())));
            DenoiseSession b = denoiser.resume(r, state, a.latents(), a.noiseDraws(), null);
            while (!b.done()) denoiser.step(List.of(b));
            assertEquals(3, b.stepSeconds().length);
            assertArrayEquals(pipeline.generate(r, null).latentsNchw(), denoiser.finish(b).latentsNchw(), name);
        }
    }

    /** A forged handoff's noise position (found by HandoffFuzzTest#mutateReal: the fast-forward spun for minutes). */
    @Test
    void aNoisePositionNoSessionReachesIsRefused() throws IOException {
        GenerateRequest r = req("euler_a", 4);
        DenoiseSession a = denoiser.start(r);
        denoiser.step(List.of(a));
        var bytes = new java.io.ByteArrayOutputStream();
        a.schedulerState().write(new java.io.DataOutputStream(bytes));
        SchedulerState state = SchedulerState.read(new java.io.DataInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray())));
        for (long draws : new long[]{Long.MAX_VALUE, 1L << 40, -1}) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60),
                    () -> assertThrows(IllegalArgumentException.class, () -> denoiser.resume(r, state, a.latents(), draws, null)));
            assertTrue(e.getMessage().contains("noise stream is at draw " + draws), e.getMessage());
        }
        assertEquals(a.noiseDraws(), denoiser.resume(r, state, a.latents(), a.noiseDraws(), null).noiseDraws(), "a real position resumes");
    }

    @Test
    void batchedSessionsEqualSingleRuns() {
        GenerateRequest r1 = req("euler_a", 1), r2 = req("dpmpp_2m", 2).withCfg(1f), r3 = req("ddim", 3).withCfg(5f);
        DenoiseSession a = denoiser.start(r1), b = denoiser.start(r2), c = denoiser.start(r3);
        denoiser.step(List.of(a)); // a is one step ahead: the batch mixes timesteps, schedulers and guidance
        while (!a.done()) denoiser.step(List.of(a, b, c));
        denoiser.step(List.of(b, c));
        assertArrayEquals(run(r1).latentsNchw(), denoiser.finish(a).latentsNchw());
        assertArrayEquals(run(r2).latentsNchw(), denoiser.finish(b).latentsNchw());
        assertArrayEquals(run(r3).latentsNchw(), denoiser.finish(c).latentsNchw());
    }

    @Test
    void generateBatchEqualsOneImageAtATime() {
        for (String scheduler : new String[]{"euler_a", "dpmpp_2m"}) {
            List<GenerateRequest> reqs = List.of(req(scheduler, 1), req(scheduler, 2).withNegativePrompt(""),
                    GenerateRequest.of("a red fox").withSize(64, 64).withSteps(5).withScheduler(scheduler).withSeed(9));
            FeatureMap batch = pipeline.generateBatch(reqs);
            int size = batch.data().length / reqs.size();
            for (int b = 0; b < reqs.size(); b++) {
                float[] one = pipeline.generate(reqs.get(b)).image().data();
                float[] part = java.util.Arrays.copyOfRange(batch.data(), b * size, (b + 1) * size);
                org.junit.jupiter.api.Assertions.assertArrayEquals(one, part, 1e-6f, scheduler + " image " + b);
            }
        }
    }

    @Test
    void guidanceIntervalGuidesOnlyTheQuieterSteps() {
        GenerateRequest full = req("ddim", 7), partial = full.withCfgMaxTimestep(500); // DDIM 5 steps: t 801, 601 unguided
        GenerateResult guided = pipeline.generate(full, null), limited = pipeline.generate(partial, null);
        GenerateResult unguided = pipeline.generate(full.withCfg(1f), null);
        assertFalse(java.util.Arrays.equals(guided.latentsNchw(), limited.latentsNchw()));
        assertFalse(java.util.Arrays.equals(unguided.latentsNchw(), limited.latentsNchw()));
        // no step inside the interval: the prompt alone at every step, as without guidance
        assertArrayEquals(unguided.latentsNchw(), pipeline.generate(full.withCfgMaxTimestep(0), null).latentsNchw(), 1e-6f);
        // the unguided steps skip the unconditional row: 3 steps × 2 rows + 2 × 1 of the full 5 × 2
        assertEquals(0.8, (double) limited.timings().unetMacs() / guided.timings().unetMacs(), 1e-3);

        assertArrayEquals(limited.latentsNchw(), run(partial).latentsNchw());
        DenoiseSession a = denoiser.start(partial), b = denoiser.start(full.withSeed(8));
        while (!a.done()) denoiser.step(List.of(a, b)); // one batch, a session with 1 row and one with 2 at t 801, 601
        assertArrayEquals(limited.latentsNchw(), denoiser.finish(a).latentsNchw());
        assertArrayEquals(run(full.withSeed(8)).latentsNchw(), denoiser.finish(b).latentsNchw());

        FeatureMap batch = pipeline.generateBatch(List.of(partial, partial.withSeed(9)));
        int size = batch.data().length / 2;
        assertArrayEquals(limited.image().data(), java.util.Arrays.copyOfRange(batch.data(), 0, size), 1e-6f);
        assertArrayEquals(pipeline.generate(partial.withSeed(9)).image().data(), java.util.Arrays.copyOfRange(batch.data(), size, 2 * size), 1e-6f);
        assertTrue(partial.parametersText("m").contains("CFG max timestep: 500"));
        var bad = assertThrows(IllegalArgumentException.class, () -> pipeline.generate(full.withCfgMaxTimestep(1001), null));
        assertTrue(bad.getMessage().contains("--cfg-max-timestep"), bad.getMessage());
    }
}
