package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.scheduler.SchedulerState;
import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.speedup.TokenMergeSettings;
import dev.edgediffuse.tensor.DType;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Token merging and DeepCache in the denoising loop: the full UNet runs on DeepCache's schedule (counted in MACs),
 * a change of rows forces a full step, sessions with different speed-ups batched together each get their single
 * run's bits, a resumed session continues the same trajectory, and bad settings are one-line errors.
 */
class SpeedUpsTest {
    @TempDir
    static Path dir;
    static Pipeline pipeline;
    static Denoiser denoiser;

    @BeforeAll
    static void load() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F32, 3);
        pipeline = Pipeline.load(model);
        denoiser = pipeline.denoiser();
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    static GenerateRequest req(long seed) {
        return GenerateRequest.of("a lighthouse at dusk").withNegativePrompt("fog").withSize(64, 64).withSteps(12)
                .withScheduler("ddim").withSeed(seed);
    }

    static GenerateRequest cached(GenerateRequest r, int interval, int branch) {
        return r.withSpeedUps(r.speedUps().withDeepCache(new DeepCacheSettings(interval, branch)));
    }

    static long macs(GenerateRequest r) {
        return pipeline.generate(r).timings().unetMacs();
    }

    @Test
    void theFullUNetRunsEveryNthStep() {
        GenerateRequest unguided = req(1).withCfg(1f);
        long full = macs(unguided) / 12;
        long shallow = (macs(cached(unguided, 100, 0)) - full) / 11; // only step 0 is full
        assertTrue(shallow > 0 && shallow < full / 2, "a cached step runs conv_in and the last up layer only");
        assertEquals(4 * full + 8 * shallow, macs(cached(unguided, 3, 0)), "interval 3 over 12 steps: full at 0, 3, 6, 9");
        assertEquals(3 * full + 9 * shallow, macs(cached(unguided, 5, 0)), "interval 5: full at 0, 5, 10");
        long deeper = (macs(cached(unguided, 100, 2)) - full) / 11;
        assertTrue(deeper > shallow && deeper < full, "branch 2 keeps more of the UNet");
        // DDIM's 12 timesteps 914, 831, 748, 665, 582, ...: guided (two rows) from step 4 at t <= 600; the new row
        // forces a full step there, which restarts the schedule: full at 0, 3 (one row), 4, 7, 10 (two rows)
        GenerateRequest partial = req(2).withCfg(5f).withCfgMaxTimestep(600);
        assertEquals(2 * full + 2 * shallow + 2 * (3 * full + 5 * shallow), macs(cached(partial, 3, 0)));
    }

    @Test
    void batchedSessionsWithDifferentSpeedUpsEqualSingleRuns() {
        TokenMergeSettings half = TokenMergeSettings.of(0.5), fixed = TokenMergeSettings.of(0.3).withRandomPartition(false);
        List<GenerateRequest> reqs = List.of(
                cached(req(1), 3, 0).withSpeedUps(new SpeedUps(half, new DeepCacheSettings(3, 0))),
                cached(req(2), 2, 1),
                req(3).withSpeedUps(new SpeedUps(fixed, null)),
                req(4).withCfgMaxTimestep(600),
                cached(req(5).withCfgMaxTimestep(600), 3, 0));
        List<DenoiseSession> sessions = reqs.stream().map(denoiser::start).toList();
        DenoiseSession ahead = sessions.getFirst();
        denoiser.step(List.of(ahead)); // one step ahead: its full and cached steps fall on others' cached and full ones
        while (!ahead.done()) denoiser.step(sessions.stream().filter(s -> !s.done()).toList());
        denoiser.step(sessions.stream().filter(s -> !s.done()).toList());
        for (int i = 0; i < reqs.size(); i++) {
            assertArrayEquals(pipeline.generate(reqs.get(i)).latentsNchw(), denoiser.finish(sessions.get(i)).latentsNchw(), "request " + i);
        }
        float[] plain = pipeline.generate(req(1)).latentsNchw();
        assertFalse(Arrays.equals(plain, pipeline.generate(reqs.getFirst()).latentsNchw()), "the speed-ups change the output");
    }

    @Test
    void aResumedSessionContinuesTheSameTrajectory() throws IOException {
        // resumed at step 3 with interval 3: the resumed session's first step is full, as the one run's step 3 is
        GenerateRequest r = cached(req(6), 3, 0).withSpeedUps(new SpeedUps(TokenMergeSettings.of(0.5), new DeepCacheSettings(3, 0)));
        DenoiseSession a = denoiser.start(r);
        for (int i = 0; i < 3; i++) denoiser.step(List.of(a));
        var bytes = new ByteArrayOutputStream();
        a.schedulerState().write(new DataOutputStream(bytes));
        SchedulerState state = SchedulerState.read(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
        DenoiseSession b = denoiser.resume(r, state, a.latents(), a.noiseDraws(), null);
        while (!b.done()) denoiser.step(List.of(b));
        assertArrayEquals(pipeline.generate(r).latentsNchw(), denoiser.finish(b).latentsNchw());
    }

    @Test
    void badSettingsAreOneLineErrorsNamingTheOption() {
        assertError("--deepcache needs at least 10 steps, got 8", () -> denoiser.start(cached(req(1).withSteps(8), 3, 0)));
        assertError("--deepcache does not apply to the lcm scheduler", () -> denoiser.start(cached(req(1).withScheduler("lcm"), 3, 0)));
        assertError("--deepcache N needs N >= 2", () -> denoiser.start(cached(req(1), 1, 0)));
        // tiny's UNet keeps 4 skip connections: conv_in, the first stage's layer and downsampler, the second's layer
        assertError("--deepcache branch 4 does not exist: this UNet has 4 skip branches (0..3)", () -> denoiser.start(cached(req(1), 3, 4)));
        assertError("--tome must be a ratio in [0, 1), got 1.0", () -> denoiser.start(req(1).withSpeedUps(new SpeedUps(TokenMergeSettings.of(1), null))));
        assertNotNull(denoiser.start(cached(req(1), 3, 3)), "the deepest branch");
    }

    private static void assertError(String start, org.junit.jupiter.api.function.Executable e) {
        String m = assertThrows(IllegalArgumentException.class, e).getMessage();
        assertTrue(m.startsWith(start) && !m.contains("\n"), m);
    }

    @Test
    void theParametersTextRecordsTheSpeedUps() {
        GenerateRequest r = req(1).withSpeedUps(new SpeedUps(TokenMergeSettings.of(0.5), new DeepCacheSettings(3, 0)));
        assertTrue(r.parametersText("m").endsWith(", Model: m, Token merging ratio: 0.5, DeepCache interval: 3, DeepCache branch: 0"),
                r.parametersText("m"));
        GenerateRequest odd = req(1).withSpeedUps(new SpeedUps(TokenMergeSettings.of(0.3).withMaxDownsample(2).withModules(true, false)
                .withRandomPartition(false), null));
        assertTrue(odd.parametersText("m").endsWith("Token merging ratio: 0.3, Token merging max downsample: 2, "
                + "Token merging cross-attention: true, Token merging partition: fixed"), odd.parametersText("m"));
        assertEquals(req(1).parametersText("m"), req(1).withSpeedUps(new SpeedUps(TokenMergeSettings.of(0), null)).parametersText("m"),
                "ratio 0 merges nothing and records nothing");
    }
}
