package dev.edgediffuse.pipeline;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.scheduler.NoiseSource;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Whole tiny pipeline runs against the PyTorch oracle of tools/goldens/pipeline.py (diffusers'
 * StableDiffusionPipeline / StableDiffusionImg2ImgPipeline step by step): same checkpoint, prompts, scheduler, initial
 * latents and per-step noise must give the same final latents and image.
 * Measured relative errors ‖Δ‖∞/‖expected‖∞ (latents / image), x86-64 AVX2: ddim 2.1e-6 / 3.3e-6, euler 2.3e-6 /
 * 4.0e-6, euler_a 2.5e-6 / 3.6e-6, dpmpp_2m 1.7e-6 / 3.2e-6, dpmpp_2m_karras 2.0e-6 / 3.7e-6, lcm 2.1e-6 / 3.1e-6,
 * img2img (ddim, strength 0.5, posterior mean) 1.9e-6 / 4.4e-6. For scale: cfg 7.49 instead of 7.5 gives 7.4e-4, and
 * 1e-3 added to one initial latent 1.8e-4, so the 1e-4 bound catches real mistakes.
 */
class PipelineGoldenTest {
    private static final String C = "pipeline";
    private static final double TOL = 1e-4;
    private static final int SIZE = 64, LC = 4, LH = 8, LW = 8;

    private static Pipeline pipeline;
    private static Map<String, Object> golden;

    @BeforeAll
    static void load() throws IOException {
        Path dir = Goldens.dir(C);
        pipeline = Pipeline.load(dir.resolve("model"));
        golden = Json.parseObject(Files.readString(dir.resolve("case.json")), "case.json");
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
    }

    private static GenerateRequest request(String scheduler) {
        return GenerateRequest.of((String) golden.get("prompt"))
                .withNegativePrompt((String) golden.get("negative_prompt"))
                .withSteps(((Number) golden.get("steps")).intValue())
                .withCfg(((Number) golden.get("cfg")).floatValue())
                .withScheduler(scheduler)
                .withSize(SIZE, SIZE);
    }

    /** Replays the recorded torch noise: row {@code stepIndex} of {@code noise} (NCHW per step). */
    private static NoiseSource replay(Npy.Array noise) {
        int per = noise.data().length / noise.shape()[0];
        return (out, stepIndex) -> System.arraycopy(noise.data(), stepIndex * per, out, 0, per);
    }

    /** The image as the oracle saves it: NCHW, (x/2 + 0.5) clamped to [0, 1]. */
    private static float[] image01(FeatureMap image) {
        float[] x = image.toNchw();
        for (int i = 0; i < x.length; i++) x[i] = Math.min(Math.max(x[i] / 2 + 0.5f, 0f), 1f);
        return x;
    }

    private static void compare(String what, String prefix, GenerateResult r) {
        assertArrayEquals(new int[]{1, LC, LH, LW}, r.latentShape());
        assertEquals(SIZE, r.image().width());
        assertEquals(SIZE, r.image().height());
        double lat = Goldens.assertRelClose(what + " latents", Goldens.load(C, prefix + "_latents").data(), r.latentsNchw(), TOL);
        double img = Goldens.assertRelClose(what + " image", Goldens.load(C, prefix + "_image").data(), image01(r.image()), TOL);
        System.out.printf("pipeline golden %-16s latents rel %.2e image rel %.2e%n", what, lat, img);
    }

    @Test
    void tokenizerMatchesOracle() {
        var tok = dev.edgediffuse.tokenizer.ClipTokenizer.load(Goldens.dir(C).resolve("model/tokenizer"));
        assertArrayEquals(ints(golden.get("prompt_ids")), tok.encode((String) golden.get("prompt")));
        assertArrayEquals(ints(golden.get("negative_ids")), tok.encode((String) golden.get("negative_prompt")));
    }

    private static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"})
    void txt2imgMatchesDiffusersLoop(String scheduler) {
        GenerateRequest req = request(scheduler).withInitLatents(Goldens.load(C, "init_latents").data());
        boolean noisy = scheduler.equals("euler_a") || scheduler.equals("lcm");
        NoiseSource steps = noisy ? replay(Goldens.load(C, scheduler + "_step_noise")) : NoiseSource.none();
        GenerateResult r = pipeline.generate(req, null, new Denoiser.Noise(steps, false));
        compare(scheduler, scheduler, r);
    }

    @Test
    void img2imgMatchesDiffusersLoop() {
        @SuppressWarnings("unchecked")
        Map<String, Object> i2i = (Map<String, Object>) golden.get("img2img");
        Npy.Array img = Goldens.load(C, "img2img_init_image");
        FeatureMap image = FeatureMap.fromNchw(img.data(), 1, 3, SIZE, SIZE);
        GenerateRequest req = request((String) i2i.get("scheduler"))
                .withInitLatents(Goldens.load(C, "img2img_noise").data())
                .withInitImage(image, ((Number) i2i.get("strength")).floatValue());
        GenerateResult r = pipeline.generate(req, null, new Denoiser.Noise(NoiseSource.none(), true));
        compare("img2img", "img2img", r);
    }
}
