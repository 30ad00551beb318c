package dev.edgediffuse.train;

import dev.edgediffuse.nn.Config;
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
}
