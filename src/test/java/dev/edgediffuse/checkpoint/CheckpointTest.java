package dev.edgediffuse.checkpoint;

import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.QuantizePass;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.testing.TinyCheckpoints;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Models as data: a checkpoint read from disk, changed in memory (architecture included), opened by the pipeline
 * without a round trip through disk, and written in both layouts — every route gives the same image bits.
 */
class CheckpointTest {
    @TempDir
    static Path dir;
    static TinyCheckpoints tiny;

    @BeforeAll
    static void write() throws IOException {
        tiny = TinyCheckpoints.write(dir);
    }

    static GenerateRequest request() {
        return GenerateRequest.of("a red cube").withSize(64, 64).withSteps(4).withScheduler("ddim").withSeed(3);
    }

    static GenerateResult generate(Checkpoint cp) {
        try (Pipeline p = Pipeline.open(cp, false, Denoiser.Layers.DENSE)) {
            return p.generate(request());
        }
    }

    static GenerateResult generate(Path model, Path configs) {
        try (Pipeline p = Pipeline.load(model, new Pipeline.Options(configs, null))) {
            return p.generate(request());
        }
    }

    /** A pass that changes the architecture: the UNet without its mid block (BK-SDM-small style). */
    static Checkpoint withoutMidBlock(Checkpoint cp) {
        Map<String, Object> config = new LinkedHashMap<>(cp.unet.config().values());
        config.put("mid_block_type", null);
        Map<String, ModelTensor> tensors = new LinkedHashMap<>(cp.unet.tensors());
        tensors.keySet().removeIf(n -> n.startsWith("mid_block."));
        return cp.withUnet(cp.unet.withConfig(new Config("no mid block", config)).withTensors(tensors, "no mid block"));
    }

    @Test
    void anArchitectureChangeOpensFromMemoryAndFromItsWrittenFolder() throws IOException {
        try (Checkpoint cp = Checkpoint.open(tiny.folder(), null)) {
            Checkpoint student = withoutMidBlock(cp);
            GenerateResult inMemory = generate(student), original = generate(cp);
            assertFalse(java.util.Arrays.equals(original.latentsNchw(), inMemory.latentsNchw()), "the mid block matters");
            Path out = dir.resolve("no-mid");
            new CheckpointWriter(null).writeFolder(student, out);
            assertNull(Config.read(out.resolve("unet/config.json")).values().get("mid_block_type"));
            assertTrue(Files.isRegularFile(out.resolve("model_index.json")));
            assertArrayEquals(inMemory.latentsNchw(), generate(out, null).latentsNchw());
            assertArrayEquals(inMemory.image().data(), generate(out, null).image().data());
        }
    }

    @Test
    void aFolderWrittenAsASingleFileGivesTheSameImage() throws IOException {
        try (Checkpoint cp = Checkpoint.open(tiny.folder(), null)) {
            Path single = dir.resolve("rewritten.safetensors");
            new CheckpointWriter(null).writeSingleFile(cp, single);
            GenerateResult a = generate(tiny.folder(), null), b = generate(single, tiny.configs());
            assertArrayEquals(a.latentsNchw(), b.latentsNchw());
            // the single file read back is the same model: written as a folder again, it generates the same too
            try (Checkpoint back = Checkpoint.open(single, tiny.configs())) {
                Path again = dir.resolve("again");
                new CheckpointWriter(null).writeFolder(back, again);
                assertArrayEquals(a.latentsNchw(), generate(again, null).latentsNchw());
            }
        }
    }

    @Test
    void theWeightFormatPassOpensInMemoryAsItsWrittenCopyDoes() throws IOException {
        try (Checkpoint cp = Checkpoint.open(tiny.folder(), null)) {
            FormatPlan plan = new FormatPlan(DType.Q4_32, List.of(FormatPlan.rule("unet/*attn2*", "q8")), true);
            Checkpoint q = QuantizePass.apply(cp, plan, Quantizer.Clip.ABSMAX, null);
            assertEquals(DType.Q8, q.unet.tensors().get("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight").dtype());
            assertEquals(DType.Q4_32, q.unet.tensors().get("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.weight").dtype());
            Path out = dir.resolve("q4");
            new CheckpointWriter(null).writeFolder(q, out);
            assertArrayEquals(generate(q).latentsNchw(), generate(out, null).latentsNchw());
        }
    }

    @Test
    void aReplacementVaeAndItsFilesGoWithTheCheckpoint() throws IOException {
        try (Checkpoint cp = Checkpoint.open(tiny.folder(), null).withVaeFolder(tiny.folder().resolve("vae"))) {
            assertNotNull(cp.vaeOverride);
            assertArrayEquals(generate(tiny.folder(), null).image().data(), generate(cp).image().data());
        }
    }
}
