package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.lora.LoraLibrary;
import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.lora.LoraSpec;
import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.TestServers;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs through the one loop: a prompt's {@code <lora:name:w>} gives the same image as --lora with the tag cut out;
 * sessions of different LoRA sets stepped together give each one's image alone; run-time branches and merging agree.
 */
class LoraVariantsTest {
    @TempDir
    static Path dir;
    static Path model, loras;

    @BeforeAll
    static void setUp() throws IOException {
        model = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(model, ModelConfigs.builtIn("tiny"), DType.F32, 3);
        loras = Files.createDirectories(dir.resolve("loras"));
        writeLora(loras.resolve("style.safetensors"), 1, "down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 32, 64);
        writeLora(loras.resolve("other.safetensors"), 2, "up_blocks_1_attentions_0_proj_out", 32, 32);
    }

    /** A kohya file adapting one UNet linear (out × in) and the text encoder's first q_proj, rank 2. */
    static void writeLora(Path file, long seed, String unetLayer, int out, int in) throws IOException {
        Rng r = new Rng(seed);
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.add("lora_unet_" + unetLayer + ".lora_down.weight", DType.F16, random(r, 2 * in), 2, in);
        w.add("lora_unet_" + unetLayer + ".lora_up.weight", DType.F16, random(r, out * 2), out, 2);
        w.add("lora_unet_" + unetLayer + ".alpha", DType.F16, new float[]{1f});
        w.add("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", DType.F16, random(r, 2 * 64), 2, 64);
        w.add("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", DType.F16, random(r, 64 * 2), 64, 2);
        w.write(file);
    }

    static float[] random(Rng r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = 0.5f * r.nextGaussian();
        return v;
    }

    static GenerateRequest req(String prompt, long seed) {
        return GenerateRequest.of(prompt).withNegativePrompt("fog").withSize(64, 64).withSteps(4).withScheduler("euler_a").withSeed(seed);
    }

    static Denoiser open(LoraMode mode, List<LoraSpec> specs) {
        return Denoiser.load(model, Pipeline.Options.DEFAULT.withLoras(new LoraLibrary.Settings(specs, loras, mode)));
    }

    static float[] alone(Denoiser d, GenerateRequest r) {
        DenoiseSession s = d.start(r);
        d.run(List.of(s), null);
        return d.finish(s).latentsNchw();
    }

    @Test
    void aPromptTagEqualsTheCommandLineLora() {
        LoraSpec style = new LoraSpec(loras.resolve("style.safetensors"), 0.7f, 0.7f);
        try (Denoiser tagged = open(LoraMode.AUTO, List.of()); Denoiser given = open(LoraMode.AUTO, List.of(style));
             Denoiser plain = open(LoraMode.AUTO, List.of())) {
            float[] a = alone(tagged, req("a lighthouse <lora:style:0.7> at dusk", 5));
            float[] b = alone(given, req("a lighthouse at dusk", 5));
            float[] c = alone(plain, req("a lighthouse at dusk", 5));
            assertArrayEquals(b, a);
            assertFalse(java.util.Arrays.equals(a, c), "the LoRA changes the image");
        }
    }

    @Test
    void sessionsOfDifferentLoraSetsSteppedTogetherEqualEachAlone() {
        try (Denoiser d = open(LoraMode.RUNTIME, List.of())) {
            List<GenerateRequest> reqs = List.of(req("a lighthouse", 1), req("a lighthouse <lora:style:1>", 2),
                    req("a boat <lora:other:0.5> <lora:style:1>", 3), req("a lighthouse <lora:style:1>", 4));
            List<DenoiseSession> sessions = new ArrayList<>();
            for (GenerateRequest r : reqs) sessions.add(d.start(r));
            d.run(sessions, null);
            for (int i = 0; i < reqs.size(); i++) {
                assertArrayEquals(alone(d, reqs.get(i)), d.finish(sessions.get(i)).latentsNchw(), reqs.get(i).prompt());
            }
        }
    }

    @Test
    void runTimeBranchesAndMergedWeightsAgree() {
        GenerateRequest r = req("a boat <lora:other:0.5> <lora:style:1>", 3);
        try (Denoiser runtime = open(LoraMode.RUNTIME, List.of()); Denoiser merged = open(LoraMode.MERGE, List.of())) {
            float[] a = alone(runtime, r), b = alone(merged, r);
            double num = 0, den = 0;
            for (int i = 0; i < a.length; i++) {
                num += (double) (a[i] - b[i]) * (a[i] - b[i]);
                den += (double) b[i] * b[i];
            }
            double rel = Math.sqrt(num / den);
            System.out.printf("final latents, LoRA at run time vs merged: relative error %.2e%n", rel);
            assertTrue(rel < 1e-5, "relative error " + rel);
        }
    }

    /** An A1111 request naming a LoRA in its prompt: the server's image equals the local one; the infotext keeps the tag. */
    @Test
    void serverRequestsNameLorasInTheirPrompts() throws Exception {
        Map<String, Denoiser> models = new java.util.LinkedHashMap<>();
        models.put("tiny", open(LoraMode.RUNTIME, List.of()));
        try (EdgeServer s = EdgeServer.start(models, EdgeServer.Options.loopback(TestServers.KEY), new java.io.PrintStream(TestServers.LOG, true));
             Pipeline local = Pipeline.load(model, Pipeline.Options.DEFAULT.withLoras(new LoraLibrary.Settings(List.of(), loras, LoraMode.RUNTIME)))) {
            var r = TestServers.post(s.uri(), "/sdapi/v1/txt2img", TestServers.KEY, "{\"prompt\":\"a cat <lora:style:0.8>\",\"seed\":5,"
                    + "\"steps\":3,\"width\":64,\"height\":64,\"sampler_name\":\"DDIM\",\"cfg_scale\":3}");
            assertEquals(200, r.statusCode(), r.body());
            @SuppressWarnings("unchecked")
            Map<String, Object> body = (Map<String, Object>) Json.parse(r.body());
            assertTrue(((String) body.get("info")).contains("a cat <lora:style:0.8>"), (String) body.get("info"));
            byte[] png = Base64.getDecoder().decode((String) ((List<?>) body.get("images")).getFirst());
            var image = ImageIO.read(new ByteArrayInputStream(png));
            GenerateResult expected = local.generate(GenerateRequest.of("a cat <lora:style:0.8>").withNegativePrompt("").withSize(64, 64)
                    .withSteps(3).withScheduler("ddim").withCfg(3f).withSeed(5));
            byte[] rgb = Images.toRgb(expected.image(), 0);
            for (int p = 0; p < 64 * 64; p++) {
                int v = image.getRGB(p % 64, p / 64);
                assertEquals(rgb[3 * p] & 255, (v >> 16) & 255, "pixel " + p);
            }
        }
    }

    @Test
    void badTagsAreOneLineErrors() {
        try (Denoiser d = open(LoraMode.AUTO, List.of()); Denoiser none = Denoiser.load(model, Pipeline.Options.DEFAULT)) {
            var e = assertThrows(IllegalArgumentException.class, () -> d.start(req("x <lora:missing:1>", 1)));
            assertTrue(e.getMessage().contains("no missing.safetensors in"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> d.start(req("x <lora:../tiny/unet/diffusion_pytorch_model:1>", 1)));
            assertTrue(e.getMessage().contains("not a path"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> none.start(req("x <lora:style:1>", 1)));
            assertTrue(e.getMessage().contains("no --lora-dir"), e.getMessage());
        }
    }
}
