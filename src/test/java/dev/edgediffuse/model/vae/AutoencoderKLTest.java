package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static dev.edgediffuse.testing.Goldens.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tiny AutoencoderKL of tools/goldens/vae.py against its torch reference; names, tiling and errors. */
class AutoencoderKLTest {
    private static final String C = "vae/kl";
    private static SafeTensors file, original;
    private static Config config;
    private static AutoencoderKL vae;

    @BeforeAll
    static void load() {
        Path dir = Goldens.dir(C);
        config = Config.read(dir.resolve("config.json"));
        file = SafeTensors.open(dir.resolve("diffusion_pytorch_model.safetensors"));
        original = SafeTensors.open(dir.resolve("original.safetensors"));
        vae = new AutoencoderKL(config, new Weights("kl", file.tensors()));
    }

    @AfterAll
    static void close() {
        file.close();
        original.close();
    }

    private static FeatureMap nchw(String name) {
        Npy.Array a = Goldens.load(C, name);
        return FeatureMap.fromNchw(a.data(), a.shape()[0], a.shape()[1], a.shape()[2], a.shape()[3]);
    }

    /**
     * Same weights, same math: equal up to float rounding. Not bit-equal, as the JIT may compile the kernels'
     * exp/FMA paths differently between two calls (observed 1-ulp differences).
     */
    static void same(String what, FeatureMap expected, FeatureMap actual) {
        assertRelClose(what, expected.data(), actual.data(), 1e-6);
    }

    @Test
    void decodeMatchesTorch() {
        FeatureMap img = vae.decode(nchw("decode_latents"));
        assertEquals(32, img.height());
        double rel = assertRelClose("decode", Goldens.load(C, "decode_out").data(), img.toNchw(), 1e-4);
        System.out.println("AutoencoderKL decode relative error " + rel);
    }

    @Test
    void encodeMatchesTorch() {
        FeatureMap image = nchw("encode_image");
        double mean = assertRelClose("encode mean", Goldens.load(C, "encode_mean").data(), vae.encodeMean(image).toNchw(), 1e-4);
        double sample = assertRelClose("encode sample", Goldens.load(C, "encode_sample").data(),
                vae.encode(image, nchw("encode_noise")).toNchw(), 1e-4);
        System.out.println("AutoencoderKL encode mean relative error " + mean + ", sample " + sample);
        assertEquals(8, vae.encode(image, new Random(1)).height());
    }

    @Test
    void perChannelLatentsMapTheEncodersSpace() {
        Map<String, Object> plain = new LinkedHashMap<>(config.values()), perChannel = new LinkedHashMap<>(config.values());
        plain.put("scaling_factor", 1.0);
        perChannel.put("scaling_factor", 1.0);
        perChannel.put("latents_mean", java.util.List.of(0.5, -1.0, 0.0, 2.0));
        perChannel.put("latents_std", java.util.List.of(2.0, 0.5, 1.0, 4.0));
        AutoencoderKL raw = new AutoencoderKL(new Config("plain", plain), new Weights("kl", file.tensors()));
        AutoencoderKL standardized = new AutoencoderKL(new Config("per channel", perChannel), new Weights("kl", file.tensors()));
        FeatureMap image = nchw("encode_image");
        float[] z = raw.encodeMean(image).data(), u = standardized.encodeMean(image).data();
        double[] mean = {0.5, -1.0, 0.0, 2.0}, std = {2.0, 0.5, 1.0, 4.0};
        for (int i = 0; i < z.length; i++) assertEquals((z[i] - mean[i % 4]) / std[i % 4], u[i], 1e-5, "latent " + i);
        same("decode undoes the map", raw.decode(new FeatureMap(z, 1, 8, 8, 4)), standardized.decode(new FeatureMap(u, 1, 8, 8, 4)));
    }

    @Test
    void originalNamesGiveIdenticalOutput() {
        Map<String, Weight> renamed = VaeOriginalNames.toDiffusers("original", original.tensors(), config, "first_stage_model.");
        AutoencoderKL fromOriginal = new AutoencoderKL(config, new Weights("original", renamed));
        FeatureMap z = nchw("decode_latents"), image = nchw("encode_image");
        same("decode", vae.decode(z), fromOriginal.decode(z));
        same("encode", vae.encodeMean(image), fromOriginal.encodeMean(image));
    }

    @Test
    void legacyAttentionNamesAreAccepted() {
        Map<String, Weight> legacy = new LinkedHashMap<>();
        file.tensors().forEach((name, w) -> legacy.put(name.replace(".to_q.", ".query.").replace(".to_k.", ".key.")
                .replace(".to_v.", ".value.").replace(".to_out.0.", ".proj_attn."), w));
        assertTrue(legacy.containsKey("decoder.mid_block.attentions.0.proj_attn.weight"));
        FeatureMap z = nchw("decode_latents");
        same("legacy names", vae.decode(z), new AutoencoderKL(config, new Weights("legacy", legacy)).decode(z));
    }

    @Test
    void tiledDecodeApproximatesUntiled() {
        Random r = new Random(5);
        float[] z = new float[24 * 24 * 4];
        for (int i = 0; i < z.length; i++) z[i] = (float) r.nextGaussian();
        FeatureMap latents = new FeatureMap(z, 1, 24, 24, 4);
        vae.setTiling(null);
        FeatureMap whole = vae.decode(latents);
        // one tile covering everything is exactly the untiled decode
        same("single tile", whole, vae.decodeTiled(latents, 24, 4));
        FeatureMap tiled = vae.decodeTiled(latents, 12, 4);
        assertEquals(96, tiled.height());
        assertEquals(96, tiled.width());
        double rel = assertRelClose("tiled vs untiled", whole.data(), tiled.data(), 0.2);
        double meanAbs = 0;
        for (int i = 0; i < whole.data().length; i++) meanAbs += Math.abs(whole.data()[i] - tiled.data()[i]) / whole.data().length;
        System.out.println("AutoencoderKL tiled (12/4) vs untiled relative error " + rel + ", mean abs difference " + meanAbs);
        vae.setTiling(new AutoencoderKL.Tiling(16, 12, 4));
        try {
            same("automatic tiling", tiled, vae.decode(latents));
        } finally {
            vae.setTiling(AutoencoderKL.DEFAULT_TILING);
        }
    }

    @Test
    void tileStartsCoverTheAxis() {
        assertArrayEquals(new int[]{0}, LatentTiles.starts(10, 12, 4));
        assertArrayEquals(new int[]{0, 8, 12}, LatentTiles.starts(24, 12, 4));
        assertArrayEquals(new int[]{0, 8, 16, 18}, LatentTiles.starts(30, 12, 4));
    }

    @Test
    void originalNamesCoverSd15() {
        Config sd15 = Config.parse("sd15 vae", "{\"block_out_channels\": [128, 256, 512, 512], \"layers_per_block\": 2,"
                + " \"latent_channels\": 4, \"norm_num_groups\": 32}");
        Map<String, String> m = VaeOriginalNames.originalToDiffusers(sd15);
        assertEquals(248, m.size(), "tensors in SD 1.5's VAE");
        assertEquals("decoder.up_blocks.0.upsamplers.0.conv.weight", m.get("decoder.up.3.upsample.conv.weight"));
        assertEquals("decoder.up_blocks.2.resnets.0.conv_shortcut.bias", m.get("decoder.up.1.block.0.nin_shortcut.bias"));
        assertEquals("encoder.mid_block.attentions.0.to_out.0.weight", m.get("encoder.mid.attn_1.proj_out.weight"));
        assertEquals(null, m.get("decoder.up.0.upsample.conv.weight"));
    }

    @Test
    void missingTensorIsNamed() {
        Map<String, Weight> partial = new LinkedHashMap<>(file.tensors());
        partial.remove("decoder.up_blocks.2.resnets.0.conv_shortcut.weight");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> new AutoencoderKL(config, new Weights("vae.safetensors", partial)));
        assertEquals("vae.safetensors: tensor decoder.up_blocks.2.resnets.0.conv_shortcut.weight is missing", e.getMessage());
        Map<String, Weight> partialOriginal = new LinkedHashMap<>(original.tensors());
        partialOriginal.remove("first_stage_model.decoder.up.0.block.0.nin_shortcut.bias");
        e = assertThrows(ModelFormatException.class, () -> VaeOriginalNames.toDiffusers("sd.safetensors", partialOriginal, config, "first_stage_model."));
        assertEquals("sd.safetensors: tensor first_stage_model.decoder.up.0.block.0.nin_shortcut.bias is missing", e.getMessage());
    }
}
