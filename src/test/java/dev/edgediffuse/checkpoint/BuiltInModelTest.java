package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.tensor.FeatureMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shipped EdgeDiffuse-Mini unpacks, loads like any diffusers folder and draws distinct, non-blank images. */
class BuiltInModelTest {
    @Test
    void unpacksLoadsAndGenerates() {
        Path dir = BuiltInModel.path(null);
        assertTrue(Files.isRegularFile(dir.resolve("unet/diffusion_pytorch_model.safetensors")));
        try (Pipeline p = Pipeline.load(dir)) {
            assertEquals(32, p.defaultImageSize());
            GenerateRequest base = GenerateRequest.of("").withSize(32, 32).withSteps(20).withScheduler("ddim").withCfg(5f);
            FeatureMap images = p.generateBatch(List.of(base.withSeed(1).withPrompt("a photo of a trouser"),
                    base.withSeed(1).withPrompt("a photo of a bag")));
            float[] d = images.data();
            int half = d.length / 2;
            double contrast = 0, differ = 0;
            for (int i = 0; i < half; i++) {
                contrast = Math.max(contrast, Math.abs(d[i] - d[0]));
                differ += Math.abs(d[i] - d[half + i]) / half;
            }
            // a real garment on a dark background spans most of [-1, 1]; different prompts give different pictures
            assertTrue(contrast > 1.0, "image 0 is nearly flat: " + contrast);
            assertTrue(differ > 0.05, "prompts barely change the image: " + differ);
        }
    }

    /** The built-in student unpacks by name, is the smaller UNet, and draws a garment, not noise. */
    @Test
    void theTinyStudentIsBuiltInAndDraws() throws IOException {
        Path tiny = BuiltInModel.resolve("mini-tiny", null);
        long tinyUnet = Files.size(tiny.resolve("unet/diffusion_pytorch_model.safetensors"));
        long miniUnet = Files.size(BuiltInModel.path(null).resolve("unet/diffusion_pytorch_model.safetensors"));
        assertTrue(tinyUnet < miniUnet / 4, "student UNet " + tinyUnet + " bytes vs the Mini's " + miniUnet);
        try (Pipeline p = Pipeline.load(tiny)) {
            float[] d = p.generate(GenerateRequest.of("a photo of a trouser").withSize(32, 32).withSeed(1), null).image().data();
            double contrast = 0;
            for (float v : d) contrast = Math.max(contrast, Math.abs(v - d[0]));
            assertTrue(contrast > 1.0, "the student's image is nearly flat: " + contrast);
        }
    }

    /**
     * The built-in LCM student samples with its own defaults (lcm, 4 steps, guidance as an input: one UNet pass a step)
     * and draws a garment, not noise, in those 4 steps.
     */
    @Test
    void theLcmStudentDrawsInFourSteps() throws IOException {
        Path lcm = BuiltInModel.resolve("mini-lcm", null);
        SamplingDefaults defaults = SamplingDefaults.of(lcm);
        assertEquals("lcm", defaults.scheduler());
        assertEquals(4, defaults.steps());
        assertTrue(Config.read(lcm.resolve("unet/config.json")).getInt("time_cond_proj_dim", 0) > 0, "the guidance embedding");
        try (Pipeline p = Pipeline.load(lcm)) {
            float[] d = p.generate(GenerateRequest.of("a photo of a trouser").withSize(32, 32).withSeed(1), null).image().data();
            double contrast = 0;
            for (float v : d) contrast = Math.max(contrast, Math.abs(v - d[0]));
            assertTrue(contrast > 1.0, "the LCM student's image is nearly flat: " + contrast);
        }
    }

    /**
     * The built-in LCM-LoRA: {@code --lora} takes its name (other names are left for the loader to report), and on the
     * Mini it turns 4 LCM steps without guidance into a garment of the prompt's class, where the Mini alone gives a
     * different, softer image.
     */
    @Test
    void theLcmLoraIsBuiltInAndMakesTheMiniAFourStepModel() {
        Path file = BuiltInModel.resolveLora(Path.of("mini-lcm-lora"), null);
        assertTrue(Files.isRegularFile(file) && file.getFileName().toString().equals("mini-lcm-lora.safetensors"), file.toString());
        assertEquals(Path.of("no-such-lora"), BuiltInModel.resolveLora(Path.of("no-such-lora"), null));
        GenerateRequest fourSteps = GenerateRequest.of("a photo of a trouser").withSize(32, 32).withSeed(1).withScheduler("lcm")
                .withSteps(4).withCfg(1f);
        var loras = new dev.edgediffuse.lora.LoraLibrary.Settings(List.of(new dev.edgediffuse.lora.LoraSpec(file, 1f, 1f)), null,
                dev.edgediffuse.lora.LoraMode.AUTO);
        try (Pipeline plain = Pipeline.load(BuiltInModel.path(null));
             Pipeline lcm = Pipeline.load(BuiltInModel.path(null), Pipeline.Options.DEFAULT.withLoras(loras))) {
            float[] with = lcm.generate(fourSteps, null).image().data(), without = plain.generate(fourSteps, null).image().data();
            double contrast = 0, differ = 0;
            for (int i = 0; i < with.length; i++) {
                contrast = Math.max(contrast, Math.abs(with[i] - with[0]));
                differ += Math.abs(with[i] - without[i]) / with.length;
            }
            assertTrue(contrast > 1.0, "the LCM-LoRA's 4-step image is nearly flat: " + contrast);
            assertTrue(differ > 0.02, "the LoRA barely changes the image: " + differ);
        }
    }

    /**
     * The shipped model draws the bits the 256-bit path draws (v7's were recorded before the vector width became the
     * machine's; v8's at {@code -XX:MaxVectorSize=32}), latents and decoded image alike; CI checks it at the default width and under {@code -XX:MaxVectorSize=16}.
     */
    @Test
    void drawsTheRecordedBitsAtEveryVectorWidth() {
        try (Pipeline p = Pipeline.load(BuiltInModel.path(null))) {
            GenerateResult r = p.generate(GenerateRequest.of("a photo of a sneaker").withSize(32, 32).withSteps(6).withScheduler("euler")
                    .withCfg(3f).withSeed(7));
            assertEquals(1327938162, Arrays.hashCode(r.latentsNchw()), "latents");
            assertEquals(-1915725904, Arrays.hashCode(r.image().data()), "image");
        }
    }

    @Test
    void modelsAreResolvedAsPathsFirstThenAsBuiltInNames(@TempDir Path dir) throws IOException {
        assertTrue(BuiltInModel.names().contains(BuiltInModel.DEFAULT));
        assertEquals(BuiltInModel.MINI, BuiltInModel.named("mini"));
        assertNull(BuiltInModel.named("edgediffuse-mini-v8"), "the short name, not the folder's");
        assertEquals(BuiltInModel.path(null), BuiltInModel.resolve("mini", null));
        Path folder = Files.createDirectories(dir.resolve("mini"));
        assertEquals(folder, BuiltInModel.resolve(folder.toString(), null), "an existing path is taken as it is");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> BuiltInModel.resolve("mini-huge", null));
        assertEquals("mini-huge: model not found (expected a diffusers folder, a .safetensors file or a built-in model: "
                + String.join(", ", BuiltInModel.names()) + ")", e.getMessage());
    }

    @Test
    void aTruncatedCopyInTheCacheIsReplacedAndAnIntactOneKept(@TempDir Path cache) throws IOException {
        Path dir = BuiltInModel.FASHION_CLASSIFIER.unpack(cache, null);
        Path weights = dir.resolve("model.safetensors");
        byte[] original = Files.readAllBytes(weights);
        Files.write(weights, Arrays.copyOf(original, 100));
        assertEquals(dir, BuiltInModel.FASHION_CLASSIFIER.unpack(cache, null));
        assertArrayEquals(original, Files.readAllBytes(weights), "the truncated file is unpacked again");
        byte[] sameSize = original.clone();
        sameSize[sameSize.length - 1] ^= 1; // as retrained weights of the same shapes would differ
        Files.write(weights, sameSize);
        BuiltInModel.FASHION_CLASSIFIER.unpack(cache, null);
        assertArrayEquals(original, Files.readAllBytes(weights), "a copy of the same size but other content is unpacked again");

        FileTime old = FileTime.fromMillis(1_000_000_000_000L);
        Files.setLastModifiedTime(weights, old);
        BuiltInModel.FASHION_CLASSIFIER.unpack(cache, null);
        assertEquals(old, Files.getLastModifiedTime(weights), "an intact copy is used as it is");
        try (Stream<Path> left = Files.list(cache.resolve("edgediffuse"))) {
            assertEquals(List.of(dir), left.toList(), "no temporary or stale folders left behind");
        }
    }
}
