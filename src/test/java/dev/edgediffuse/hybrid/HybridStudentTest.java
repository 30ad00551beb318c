package dev.edgediffuse.hybrid;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.TestServers;
import dev.edgediffuse.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A teacher's first steps on a server, an LCM student's few steps on the device: the same bits as both run here. */
class HybridStudentTest {
    @Test
    void teacherOnTheServerThenTheStudentHere(@TempDir Path dir) throws IOException {
        Path teacher = TestServers.model(dir, 7), student = dir.resolve("student");
        ModelConfigs tiny = ModelConfigs.builtIn("tiny");
        Map<String, Object> unet = new LinkedHashMap<>(tiny.unet().values());
        unet.put("time_cond_proj_dim", 16);
        RandomCheckpoint.writeFolder(student, new ModelConfigs(new Config("student", unet), tiny.vae(), tiny.text(), tiny.scheduler()), DType.F32, 8);
        GenerateRequest teacherReq = GenerateRequest.of("a red fox").withNegativePrompt("blurry").withSize(64, 64).withSteps(10)
                .withScheduler("ddim").withCfg(2f).withCfgMaxTimestep(450).withSeed(3);
        GenerateRequest studentReq = teacherReq.withSteps(2).withScheduler("lcm");
        int split = 6;
        EdgeServer server = TestServers.start(Map.of("teacher", teacher), EdgeServer.Options.loopback(TestServers.KEY));
        try (Denoiser device = Denoiser.load(student, Pipeline.Options.DEFAULT); Denoiser local = Denoiser.load(teacher, Pipeline.Options.DEFAULT)) {
            assertTrue(device.consistencyModel());
            HybridClient client = new HybridClient(server.uri(), TestServers.KEY, Duration.ofSeconds(180), null);
            HybridGenerator.Outcome o = HybridGenerator.generateWithStudent(device, teacherReq, split, studentReq, client, "teacher", false, null);
            assertTrue(o.usedServer(), o.summary());
            assertEquals(2, o.deviceSteps());

            DenoiseSession t = local.start(teacherReq);
            for (int i = 0; i < split; i++) local.step(List.of(t));
            var ddim = local.scheduler("ddim");
            ddim.setTimesteps(10);
            DenoiseSession s = device.continueAt(studentReq, (int) ddim.timesteps()[split], t.latents(), null);
            assertEquals(2, s.totalSteps());
            device.run(List.of(s), null);
            GenerateResult expected = device.finish(s);
            assertArrayEquals(expected.latentsNchw(), o.result().latentsNchw());
        } finally {
            server.close();
        }
    }
}
