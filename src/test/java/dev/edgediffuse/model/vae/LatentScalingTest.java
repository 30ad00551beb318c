package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The latent maps of SD (one scaling_factor, SD3's shift_factor) and of diffusers' per-channel latents_mean / latents_std. */
class LatentScalingTest {
    private static LatentScaling of(String json) {
        return LatentScaling.of(Config.parse("vae/config.json", json), 2, 0.18215);
    }

    @Test
    void oneFactorForAllChannels() {
        float[] z = {1f, -2f, 3f, 4f};
        of("{\"scaling_factor\": 0.5, \"shift_factor\": 1.0}").toUnet(z);
        assertArrayEquals(new float[]{0f, -1.5f, 1f, 1.5f}, z, "(z - shift) * scaling");
        float[] sd = {2f, 2f};
        of("{}").toUnet(sd);
        assertArrayEquals(new float[]{2f * 0.18215f, 2f * 0.18215f}, sd, "SD's default factor");
    }

    @Test
    void perChannelStandardizesEachChannelAsDiffusersDoes() {
        // diffusers (Playground v2.5): latents = (z - latents_mean) * scaling_factor / latents_std, and back
        // z = latents * latents_std / scaling_factor + latents_mean before decoding; channels-last here
        LatentScaling s = of("{\"scaling_factor\": 0.5, \"shift_factor\": 9, \"latents_mean\": [-2, 1], \"latents_std\": [4, 0.25]}");
        float[] z = {1f, 1f, -2f, 2f};
        s.toUnet(z);
        assertArrayEquals(new float[]{0.375f, 0f, 0f, 2f}, z, 1e-7f);
        s.fromUnet(z);
        assertArrayEquals(new float[]{1f, 1f, -2f, 2f}, z, 1e-6f);
    }

    @Test
    void eachVaeClassHasItsDefaultAndMapsCompareByValue() {
        LatentScaling kl = LatentScaling.ofVae(Config.parse("kl", "{}"), 2);
        LatentScaling tiny = LatentScaling.ofVae(Config.parse("tiny", "{\"_class_name\": \"AutoencoderTiny\"}"), 2);
        assertArrayEquals(new float[]{0.18215f, 0.18215f}, kl.factor());
        assertArrayEquals(new float[]{1f, 1f}, tiny.factor());
        assertTrue(kl.sameAs(of("{\"scaling_factor\": 0.18215}")));
        assertFalse(kl.sameAs(tiny));
        assertFalse(kl.sameAs(of("{\"shift_factor\": 0.1}")), "a shift alone differs");
    }

    @Test
    void badValuesNameTheFileAndKey() {
        assertEquals("vae/config.json: latents_mean and latents_std must be given together",
                assertThrows(ModelFormatException.class, () -> of("{\"latents_mean\": [0, 0]}")).getMessage());
        assertEquals("vae/config.json: latents_std has 3 values, latent_channels is 2",
                assertThrows(ModelFormatException.class, () -> of("{\"latents_mean\": [0, 0], \"latents_std\": [1, 1, 1]}")).getMessage());
        assertEquals("vae/config.json: latents_std must be positive, got 0.0",
                assertThrows(ModelFormatException.class, () -> of("{\"latents_mean\": [0, 0], \"latents_std\": [1, 0]}")).getMessage());
        assertEquals("vae/config.json: key \"latents_mean\" must be a number, got [0, x]",
                assertThrows(ModelFormatException.class, () -> of("{\"latents_mean\": [0, \"x\"], \"latents_std\": [1, 1]}")).getMessage());
        assertEquals("vae/config.json: scaling_factor must be a positive number, got -1.0",
                assertThrows(ModelFormatException.class, () -> of("{\"scaling_factor\": -1}")).getMessage());
    }
}
