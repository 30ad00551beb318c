package dev.edgediffuse.model.unet;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.edgediffuse.testing.Goldens.assertRelClose;
import static dev.edgediffuse.testing.Goldens.dir;
import static dev.edgediffuse.testing.Goldens.load;
import static dev.edgediffuse.testing.Goldens.relError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tiny SD1-, SD2-, BK-SDM-shaped, per-stage-depth and prompt-in-time-embedding UNets against the torch reference of
 * tools/goldens/unet.py.
 */
class UNetTest {
    /** Measured 0.6e-6 to 1.6e-6 relative (‖Δ‖∞/‖expected‖∞) on the five configs: fp32, different summation orders. */
    private static final double TOLERANCE = 1e-4;

    private static FeatureMap predict(String name, Map<String, Weight> tensors, String source) {
        String c = "unet/" + name;
        Config config = Config.read(dir(c).resolve("config.json"));
        UNet2DConditionModel unet = new UNet2DConditionModel(config, new Weights(source, tensors));
        FeatureMap latents = FeatureMap.fromNchw(load(c, "latents").data(), 2, 4, 8, 8);
        float[] context = load(c, "context").data();
        return unet.predict(latents, load(c, "timesteps").data(), context, 7);
    }

    private static double checkGolden(String name) {
        Path file = dir("unet/" + name).resolve("diffusion_pytorch_model.safetensors");
        try (SafeTensors st = SafeTensors.open(file)) {
            FeatureMap out = predict(name, st.tensors(), file.toString());
            assertEquals(4, out.channels());
            double rel = assertRelClose(name, load("unet/" + name, "noise").data(), out.toNchw(), TOLERANCE);
            System.out.printf("UNet %s: relative error %.3g%n", name, rel);
            return rel;
        }
    }

    @Test
    void feedForwardInRowChunksGivesTheSameBits() {
        Path file = dir("unet/sd1_tiny").resolve("diffusion_pytorch_model.safetensors");
        try (SafeTensors st = SafeTensors.open(file)) {
            Weights w = new Weights(file.toString(), st.tensors()).scope("down_blocks.0.attentions.0.transformer_blocks.0");
            TransformerBlock block = new TransformerBlock(w, 16, 32, 2, PrunedWidths.none());
            java.util.Random r = new java.util.Random(3);
            int batch = 2, tokens = 50;
            float[] x = new float[batch * tokens * 16], context = new float[batch * 7 * 32];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < context.length; i++) context[i] = (float) r.nextGaussian();
            float[] whole = block.forward(x.clone(), batch, tokens, context, 7, batch * tokens);
            for (int rows : new int[]{1, 7, 64}) {
                assertArrayEquals(whole, block.forward(x.clone(), batch, tokens, context, 7, rows), "chunks of " + rows + " rows");
            }
            assertTrue(!java.util.Arrays.equals(whole, x), "the block changed its input stream");
        }
    }

    @Test
    void sd1LayoutMatchesTorch() {
        checkGolden("sd1_tiny");
    }

    @Test
    void sd2LayoutWithLinearProjectionsAndHeadListMatchesTorch() {
        checkGolden("sd2_tiny");
    }

    @Test
    void bkSdmTinyWithoutMidBlockMatchesTorch() {
        checkGolden("bk_tiny");
    }

    @Test
    void aResnetCountPerStageMatchesTorch() {
        checkGolden("per_stage_tiny");
    }

    @Test
    void promptPooledIntoTheTimeEmbeddingMatchesTorch() {
        checkGolden("text_time_tiny");
        Path d = dir("unet/text_time_tiny");
        try (SafeTensors st = SafeTensors.open(d.resolve("diffusion_pytorch_model.safetensors"))) {
            Map<String, Weight> zeroed = new LinkedHashMap<>(st.tensors());
            String scale = "add_embedding.norm2.weight", shift = "add_embedding.norm2.bias";
            int timeDim = st.tensors().get(scale).shape()[0];
            zeroed.put(scale, Weight.ofFloats(scale, new float[timeDim], timeDim));
            zeroed.put(shift, Weight.ofFloats(shift, new float[timeDim], timeDim));
            double rel = relError(load("unet/text_time_tiny", "noise").data(),
                    predict("text_time_tiny", zeroed, "zeroed").toNchw());
            assertTrue(rel > 100 * TOLERANCE, "the pooled prompt must matter to the golden: " + rel);
        }
    }

    @Test
    void unsupportedConfigValuesAreOneLineErrors() {
        String base = """
                {"block_out_channels": [16], "down_block_types": ["CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D"],
                 "attention_head_dim": 2, "cross_attention_dim": 32, "norm_num_groups": 8, "in_channels": 4, "out_channels": 4, %s}""";
        for (String[] c : new String[][]{{"\"addition_embed_type\": \"text_time\"", "addition_embed_type \"text_time\""},
                {"\"layers_per_block\": [1, 2]", "layers_per_block needs 1 entries"}, {"\"layers_per_block\": 0", "at least 1, got 0"},
                {"\"addition_embed_type\": \"text\", \"addition_embed_type_num_heads\": 5", "addition_embed_type_num_heads 5"}}) {
            Config config = Config.parse("unet/config.json", base.formatted(c[0]));
            Map<String, int[]> names = new LinkedHashMap<>();
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> new UNet2DConditionModel(config, Weights.recording("unet", names)));
            assertTrue(e.getMessage().startsWith("unet/config.json") && e.getMessage().contains(c[1]), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    @Test
    void singleFileNamesGiveTheSameModel() {
        for (String name : new String[]{"sd1_tiny", "sd2_tiny", "bk_tiny", "per_stage_tiny"}) {
            Path d = dir("unet/" + name);
            Config config = Config.read(d.resolve("config.json"));
            @SuppressWarnings("unchecked")
            Map<String, Object> originalToDiffusers = (Map<String, Object>) dev.edgediffuse.format.Json.parseObject(
                    readString(d.resolve("ldm_names.json")), "ldm_names.json");
            try (SafeTensors st = SafeTensors.open(d.resolve("diffusion_pytorch_model.safetensors"))) {
                Map<String, Weight> singleFile = new LinkedHashMap<>();
                for (Map.Entry<String, Object> e : originalToDiffusers.entrySet()) {
                    Weight w = st.tensors().get((String) e.getValue());
                    singleFile.put(e.getKey(), new Weight(e.getKey(), w.dtype(), w.shape(), w.data()));
                }
                Weight vae = st.tensors().get("conv_in.weight");
                singleFile.put("first_stage_model.encoder.conv_in.weight", vae);
                assertEquals(st.tensors().size(), originalToDiffusers.size(), name + ": every tensor has an original name");

                Map<String, Weight> renamed = UNetOriginalNames.rename(singleFile, config, "single.safetensors");
                assertEquals(st.tensors().keySet(), renamed.keySet(), name + ": renamed tensors");
                if (name.equals("sd1_tiny") || name.equals("per_stage_tiny")) {
                    float[] viaDiffusers = predict(name, st.tensors(), "diffusers").data();
                    float[] viaOriginal = predict(name, renamed, "single").data();
                    assertArrayEquals(viaDiffusers, viaOriginal, name + ": same output from original names");
                }
            }
        }
    }

    @Test
    void sd15OriginalLayoutIsNumberedLikeTheLdmCheckpoint() {
        Config sd15 = Config.parse("sd15/unet/config.json", """
                {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
                 "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                 "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}""");
        Map<String, String> m = UNetOriginalNames.originalToDiffusers(sd15);
        assertEquals("down_blocks.0.attentions.1", m.get("input_blocks.2.1"));
        assertEquals("down_blocks.2.downsamplers.0.conv", m.get("input_blocks.9.0.op"));
        assertEquals("down_blocks.3.resnets.1.norm1", m.get("input_blocks.11.0.in_layers.0"));
        assertEquals("mid_block.resnets.1.time_emb_proj", m.get("middle_block.2.emb_layers.1"));
        assertEquals("up_blocks.0.upsamplers.0.conv", m.get("output_blocks.2.1.conv"));
        assertEquals("up_blocks.1.resnets.0.conv_shortcut", m.get("output_blocks.3.0.skip_connection"));
        assertEquals("up_blocks.2.upsamplers.0.conv", m.get("output_blocks.8.2.conv"));
        assertEquals("up_blocks.3.attentions.2", m.get("output_blocks.11.1"));
        assertEquals("up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight", UNetOriginalNames.diffusersName(m,
                "output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight"));
    }

    @Test
    void unknownOriginalTensorIsNamed() {
        Config config = Config.read(dir("unet/sd1_tiny").resolve("config.json"));
        Map<String, Weight> file = Map.of("model.diffusion_model.input_blocks.99.0.in_layers.0.weight",
                Weight.ofFloats("x", new float[1], 1));
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> UNetOriginalNames.rename(file, config, "bad.safetensors"));
        assertTrue(e.getMessage().contains("bad.safetensors") && e.getMessage().contains("input_blocks.99.0.in_layers.0.weight"),
                e.getMessage());
    }

    @Test
    void missingAndMisshapenTensorsAreNamed() {
        Path file = dir("unet/sd2_tiny").resolve("diffusion_pytorch_model.safetensors");
        Config config = Config.read(dir("unet/sd2_tiny").resolve("config.json"));
        try (SafeTensors st = SafeTensors.open(file)) {
            Map<String, Weight> missing = new LinkedHashMap<>(st.tensors());
            String gone = "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight";
            missing.remove(gone);
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> new UNet2DConditionModel(config, new Weights("unet.safetensors", missing)));
            assertTrue(e.getMessage().contains("unet.safetensors") && e.getMessage().contains(gone), e.getMessage());

            Map<String, Weight> wrong = new LinkedHashMap<>(st.tensors());
            String bad = "down_blocks.1.resnets.0.conv_shortcut.weight";
            wrong.put(bad, Weight.ofFloats(bad, new float[32 * 15], 32, 15, 1, 1));
            e = assertThrows(ModelFormatException.class,
                    () -> new UNet2DConditionModel(config, new Weights("unet.safetensors", wrong)));
            assertTrue(e.getMessage().contains(bad) && e.getMessage().contains("[32, 15, 1, 1]"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    @Test
    void unsupportedBlockTypeNamesTheConfig() {
        Config config = Config.parse("unet/config.json", """
                {"block_out_channels": [16], "down_block_types": ["AttnDownBlock2D"], "up_block_types": ["UpBlock2D"],
                 "attention_head_dim": 2, "cross_attention_dim": 32}""");
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> new UNet2DConditionModel(config, new Weights("w", Map.of())));
        assertTrue(e.getMessage().startsWith("unet/config.json") && e.getMessage().contains("AttnDownBlock2D"), e.getMessage());
    }

    private static String readString(Path p) {
        try {
            return java.nio.file.Files.readString(p);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
