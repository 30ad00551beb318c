package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.LatentScaling;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Posterior statistics of encoded images, and their per-channel standardization for the UNet. */
class LatentDatasetTest {
    @Test
    void perChannelMomentsStandardizeTheUNetsLatents() {
        Config vaeConfig = ModelConfigs.builtIn("tiny").vae();
        AutoencoderKL vae = new AutoencoderKL(vaeConfig, Parameters.initialize(RandomCheckpoint.vaeTensors(vaeConfig), new Rng(7)).weights("vae"));
        int n = 24;
        byte[] pixels = new byte[n * FashionMnist.SIZE * FashionMnist.SIZE];
        new Random(3).nextBytes(pixels);
        LatentDataset raw = LatentDataset.encode(vae, new FashionMnist(pixels, new int[n], n), 1f, null);
        double[][] m = raw.channelMoments(16, 5);
        // the same moments computed directly from the samples the method draws
        int[] first = new int[16];
        for (int i = 0; i < first.length; i++) first[i] = i;
        float[] z = raw.sample(first, new Rng(5));
        for (int c = 0; c < raw.channels(); c++) {
            double sum = 0, sq = 0;
            int count = 0;
            for (int i = c; i < z.length; i += raw.channels(), count++) sum += z[i];
            double mean = sum / count;
            for (int i = c; i < z.length; i += raw.channels()) sq += (z[i] - mean) * (z[i] - mean);
            assertEquals(mean, m[0][c], 1e-5, "mean of channel " + c);
            assertEquals(Math.sqrt(sq / count), m[1][c], 1e-4, "std of channel " + c);
            assertTrue(m[1][c] > 0);
        }

        Map<String, Object> v = new LinkedHashMap<>(vaeConfig.values());
        v.put("scaling_factor", 1.0);
        v.put("latents_mean", List.of(m[0][0], m[0][1], m[0][2], m[0][3]));
        v.put("latents_std", List.of(m[1][0], m[1][1], m[1][2], m[1][3]));
        double[][] unit = raw.toUnet(LatentScaling.of(new Config("vae", v), raw.channels(), 1.0)).channelMoments(16, 5);
        for (int c = 0; c < raw.channels(); c++) {
            assertEquals(0, unit[0][c], 1e-4, "standardized mean of channel " + c);
            assertEquals(1, unit[1][c], 1e-4, "standardized std of channel " + c);
        }
    }
}
