package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.scheduler.Schedulers;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every path through the denoising loop gives, bit for bit, what the build before the loops were merged into one
 * gave: SHA-256 of the final latents and of the image for each scheduler, txt2img (guided over part of the schedule,
 * and unguided), img2img, replayed noise, batches and a run resumed from another session's state, on a random tiny
 * model and on the built-in Mini. The expected hashes in {@code recorded/outputs.json} were written by that build
 * ({@code -Dedgediffuse.record=true} rewrites them: only do that for a change meant to alter outputs).
 */
class RecordedOutputsTest {
    private static final Path RECORDED = Path.of("src/test/resources/recorded/outputs.json");
    @TempDir
    static Path dir;
    static Pipeline tiny, mini;

    @BeforeAll
    static void load() throws IOException {
        Path model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F32, 3);
        tiny = Pipeline.load(model);
        mini = Pipeline.load(BuiltInModel.path(null));
    }

    @AfterAll
    static void close() {
        tiny.close();
        mini.close();
    }

    static GenerateRequest tinyRequest(String scheduler, long seed) {
        return GenerateRequest.of("a lighthouse at dusk").withNegativePrompt("fog").withSize(64, 64).withSteps(6)
                .withScheduler(scheduler).withSeed(seed).withCfg(5f).withCfgMaxTimestep(600);
    }

    static FeatureMap pattern(int size) {
        float[] v = new float[size * size * 3];
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i * 0.37) * 0.8f;
        return new FeatureMap(v, 1, size, size, 3);
    }

    Map<String, String> outputs() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String s : Schedulers.NAMES) {
            put(out, "tiny/" + s + "/txt2img", tiny.generate(tinyRequest(s, 11), null));
            put(out, "tiny/" + s + "/unguided", tiny.generate(tinyRequest(s, 12).withCfg(1f), null));
            put(out, "tiny/" + s + "/img2img", tiny.generate(tinyRequest(s, 13).withInitImage(pattern(64), 0.6f), null));
            // replayed per-step noise and the posterior mean, as the diffusers comparisons use them
            Denoiser.Noise replay = new Denoiser.Noise((buf, step) -> {
                for (int k = 0; k < buf.length; k++) buf[k] = (float) Math.cos(k * 0.11 + step);
            }, true);
            put(out, "tiny/" + s + "/img2img-replayed", tiny.generate(tinyRequest(s, 14).withInitImage(pattern(64), 0.8f), null, replay));
            List<GenerateRequest> batch = new ArrayList<>();
            for (long seed = 20; seed < 23; seed++) batch.add(tinyRequest(s, seed).withPrompt("a lighthouse " + seed));
            out.put("tiny/" + s + "/batch", hash(tiny.generateBatch(batch).data()));
        }
        GenerateRequest d = GenerateRequest.of("a photo of a sneaker").withSize(32, 32).withSteps(25).withScheduler("ddim")
                .withCfg(2f).withCfgMaxTimestep(450).withSeed(5);
        put(out, "mini/ddim", mini.generate(d, null));
        put(out, "mini/dpmpp_2m_karras", mini.generate(d.withScheduler("dpmpp_2m_karras").withSteps(10), null));
        out.put("mini/batch", hash(mini.generateBatch(List.of(d, d.withPrompt("a photo of a bag").withSeed(6))).data()));
        return out;
    }

    @Test
    void everyPathGivesTheRecordedBits() throws IOException {
        Map<String, String> now = outputs();
        if (Boolean.getBoolean("edgediffuse.record")) {
            Files.createDirectories(RECORDED.getParent());
            Files.writeString(RECORDED, Json.write(now) + "\n");
            return;
        }
        Map<String, Object> expected = Json.parseObject(Files.readString(RECORDED), RECORDED.toString());
        assertEquals(expected.keySet(), now.keySet());
        for (String k : now.keySet()) assertEquals(expected.get(k), now.get(k), k);
    }

    private static void put(Map<String, String> out, String key, GenerateResult r) {
        out.put(key + "/latents", hash(r.latentsNchw()));
        out.put(key + "/image", hash(r.image().data()));
    }

    static String hash(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array())).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
