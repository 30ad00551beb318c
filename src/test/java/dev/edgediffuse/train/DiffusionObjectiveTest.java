package dev.edgediffuse.train;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.scheduler.NoiseSchedule;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DiffusionObjectiveTest {
    @Test
    void minSnrWeightIsMinOfSnrAndGammaOverSnr() {
        // SNR = ᾱ / (1 − ᾱ): 1 at ᾱ = 0.5 (under γ, weight 1), 9 at 0.9 (5/9), 99 at 0.99 (5/99)
        assertEquals(1.0, DiffusionObjective.minSnrWeight(0.5, 5), 1e-12);
        assertEquals(5.0 / 9, DiffusionObjective.minSnrWeight(0.9, 5), 1e-12);
        assertEquals(5.0 / 99, DiffusionObjective.minSnrWeight(0.99, 5), 1e-12);
        assertEquals(1.0, DiffusionObjective.minSnrWeight(0.99, 0), 0, "gamma 0 leaves the loss unweighted");
    }

    @Test
    void onStableDiffusionsScheduleOnlyTheLowNoiseEndIsDownWeighted() {
        float[] a = NoiseSchedule.of(Config.parse("scheduler_config.json",
                "{\"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"beta_end\": 0.012}")).alphasCumprod();
        assertTrue(DiffusionObjective.minSnrWeight(a[0], 5) < 0.01, "t = 0 is nearly clean: SNR ~ 1000");
        assertEquals(1.0, DiffusionObjective.minSnrWeight(a[999], 5), 0, "t = 999 is nearly pure noise");
        for (int t = 1; t < 1000; t++) {
            assertTrue(DiffusionObjective.minSnrWeight(a[t], 5) >= DiffusionObjective.minSnrWeight(a[t - 1], 5), "weights rise with t at " + t);
        }
    }

    @Test
    void inputPerturbationShiftsOnlyTheUNetsInputAndOffDrawsNothingExtra() {
        int n = 64;
        float[] z0 = new float[n + 3];
        for (int i = 0; i < z0.length; i++) z0[i] = (float) Math.sin(i);
        float ab = 0.6f;
        double a = Math.sqrt(ab), s = Math.sqrt(1 - ab);
        for (double gamma : new double[]{0, 0.1}) {
            float[] noise = new float[z0.length], noisy = new float[z0.length];
            Rng rng = new Rng(11), reference = new Rng(11);
            DiffusionObjective.addNoise(z0, 3, n, ab, gamma, rng, noise, noisy);
            for (int i = 3; i < 3 + n; i++) {
                float e = reference.nextGaussian();
                float xi = gamma > 0 ? reference.nextGaussian() : 0;
                assertEquals(e, noise[i], 0, "the target is the noise ε alone");
                assertEquals(a * z0[i] + s * (e + gamma * xi), noisy[i], 1e-6, "at " + i);
            }
            assertEquals(reference.nextGaussian(), rng.nextGaussian(), 0, "draws taken: one per value, two with perturbation");
            assertEquals(0f, noise[0] + noise[1] + noise[2] + noisy[0] + noisy[1] + noisy[2], 0, "values before the offset untouched");
        }
        // at γ = 0.1 the UNet's input moves by √(1−ᾱ)·0.1·ξ: about 0.063 per value here, never zero for all
        float[] pertNoise = new float[n], perturbed = new float[n];
        DiffusionObjective.addNoise(z0, 0, n, ab, 0.1, new Rng(5), pertNoise, perturbed);
        double moved = 0;
        for (int i = 0; i < n; i++) moved += Math.abs(perturbed[i] - (a * z0[i] + s * pertNoise[i]));
        assertTrue(moved / n > 0.02 && moved / n < 0.12, "mean shift " + moved / n);
    }
}
