package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Cross-checks against the expected sums published in diffusers' own scheduler unit tests (deterministic cases only):
 * their dummy model is sample·t/(t+1) over the 768 values i/768, and their loops are replayed here step for step
 * (including the Euler test's reuse of the scaled sample). Independent of tools/goldens/schedulers.py.
 */
class SchedulerDiffusersReferenceTest {
    static final String LINEAR = "\"num_train_timesteps\": %d, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\"";

    static Config cfg(String json) {
        return Config.parse("diffusers test config", "{" + json + "}");
    }

    static float[] dummySample() {
        float[] x = new float[768];
        for (int i = 0; i < x.length; i++) x[i] = (float) i / 768f;
        return x;
    }

    static float[] dummyModel(float[] x, float t) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * t / (t + 1f);
        return out;
    }

    static double absSum(float[] x) {
        double s = 0;
        for (float v : x) s += Math.abs(v);
        return s;
    }

    /** diffusers' plain loop: step(model(sample, t), t, sample). */
    static double plainLoop(Scheduler s, int steps) {
        s.setTimesteps(steps);
        float[] x = dummySample();
        float[] ts = s.timesteps();
        for (int i = 0; i < steps; i++) x = s.step(dummyModel(x, ts[i]), i, x, null);
        return absSum(x);
    }

    /** test_scheduler_euler's loop, which feeds the scaled sample back in as the sample. */
    static double eulerLoop(Scheduler s, int steps) {
        s.setTimesteps(steps);
        float[] x = dummySample();
        float init = s.initNoiseSigma();
        for (int i = 0; i < x.length; i++) x[i] *= init;
        float[] ts = s.timesteps();
        for (int i = 0; i < steps; i++) {
            x = s.scaleModelInput(x, i);
            x = s.step(dummyModel(x, ts[i]), i, x, null);
        }
        return absSum(x);
    }

    @Test
    void ddim() {
        String base = LINEAR.formatted(1000) + ", \"clip_sample\": true";
        assertEquals(172.0067, plainLoop(new DdimScheduler(cfg(base)), 10), 1e-2);
        assertEquals(52.5302, plainLoop(new DdimScheduler(cfg(base + ", \"prediction_type\": \"v_prediction\"")), 10), 1e-2);
        String b01 = base.replace("0.0001", "0.01"); // first alpha 0.99, so set_alpha_to_one matters
        assertEquals(149.8295, plainLoop(new DdimScheduler(cfg(b01 + ", \"set_alpha_to_one\": true")), 10), 1e-2);
        assertEquals(149.0784, plainLoop(new DdimScheduler(cfg(b01 + ", \"set_alpha_to_one\": false")), 10), 1e-2);
    }

    @Test
    void euler() {
        String base = LINEAR.formatted(1100);
        assertEquals(10.0807, eulerLoop(new EulerDiscreteScheduler(cfg(base)), 10), 1e-2);
        assertEquals(0.0002, eulerLoop(new EulerDiscreteScheduler(cfg(base + ", \"prediction_type\": \"v_prediction\"")), 10), 1e-2);
        assertEquals(124.52299499511719, eulerLoop(new EulerDiscreteScheduler(cfg(base + ", \"use_karras_sigmas\": true")), 10), 1e-2);
    }

    @Test
    void dpmSolverPlusPlus2M() {
        String base = LINEAR.formatted(1000) + ", \"lower_order_final\": false, \"final_sigmas_type\": \"sigma_min\"";
        assertEquals(0.3301, plainLoop(new DpmSolverMultistepScheduler(cfg(base), false), 10) / 768, 1e-3);
        String v = base + ", \"prediction_type\": \"v_prediction\"";
        assertEquals(0.2251, plainLoop(new DpmSolverMultistepScheduler(cfg(v), false), 10) / 768, 1e-3);
        assertEquals(0.2096, plainLoop(new DpmSolverMultistepScheduler(cfg(v), true), 10) / 768, 1e-3);
    }

    @Test
    void lcmOneStep() {
        String c = "\"num_train_timesteps\": 1000, \"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\"";
        assertEquals(18.7097, plainLoop(new LcmScheduler(cfg(c)), 1), 1e-3);
    }
}
