package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replays tools/goldens/schedulers.py: the same synthetic model (0.1·x + 0.5·pattern + 0.05·sin(t/100)) from the
 * same latents and injected noise, compared after every step.
 */
class SchedulerTest {
    static final String C = "schedulers";
    static final double TOL = 1e-5;
    static final String SD15 = """
            {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
             "clip_sample": false, "prediction_type": "%s"}""";

    static Config config(String prediction) {
        return Config.parse("sd15 scheduler_config.json", SD15.formatted(prediction));
    }

    static float[] load(String name) {
        return Goldens.load(C, name).data();
    }

    static float[] row(Npy.Array a, int r) {
        int w = a.shape()[1];
        return Arrays.copyOfRange(a.data(), r * w, (r + 1) * w);
    }

    static float[] model(float[] in, float t, float[] pattern) {
        float c = (float) (0.05 * Math.sin((double) t / 100.0));
        float[] out = new float[in.length];
        for (int i = 0; i < in.length; i++) out[i] = (0.1f * in[i] + 0.5f * pattern[i]) + c;
        return out;
    }

    static boolean draws(String scheduler) {
        return scheduler.equals("euler_a") || scheduler.equals("lcm");
    }

    /** Runs steps [start, n) from x, comparing with the golden after each; returns the worst relative error. */
    static double replay(String caseName, Scheduler s, float[] x, int start) {
        Npy.Array samples = Goldens.load(C, caseName + "_samples");
        Npy.Array noise = Goldens.load(C, caseName + "_noise");
        float[] pattern = load("pattern");
        float[] ts = s.timesteps();
        double worst = Goldens.assertRelClose(caseName + " initial", row(samples, 0), x, 1e-6);
        int[] draws = {0};
        NoiseSource src = draws(s.name()) ? (out, i) -> {
            draws[0]++;
            System.arraycopy(row(noise, i - start), 0, out, 0, out.length);
        } : NoiseSource.none();
        for (int i = start; i < s.numSteps(); i++) {
            float[] m = model(s.scaleModelInput(x, i), ts[i], pattern);
            x = s.step(m, i, x, src);
            worst = Math.max(worst, Goldens.assertRelClose(caseName + " step " + i, row(samples, i - start + 1), x, TOL));
        }
        int expectDraws = switch (s.name()) {
            case "euler_a" -> s.numSteps() - start;
            case "lcm" -> s.numSteps() - start - 1;
            default -> 0;
        };
        assertEquals(expectDraws, draws[0], caseName + ": noise draws");
        return worst;
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "ddim_eps_4", "ddim_eps_10", "ddim_eps_1", "ddim_v_10",
            "euler_eps_1", "euler_eps_4", "euler_eps_10", "euler_eps_25", "euler_v_10",
            "euler_a_eps_4", "euler_a_eps_10", "euler_a_v_10",
            "dpmpp_2m_eps_1", "dpmpp_2m_eps_4", "dpmpp_2m_eps_10", "dpmpp_2m_eps_25", "dpmpp_2m_v_10",
            "dpmpp_2m_karras_eps_4", "dpmpp_2m_karras_eps_10", "dpmpp_2m_karras_eps_25", "dpmpp_2m_karras_v_10",
            "lcm_eps_1", "lcm_eps_4", "lcm_eps_10", "lcm_v_4"})
    void matchesGoldenRun(String caseName) {
        int cut = caseName.lastIndexOf('_');
        int steps = Integer.parseInt(caseName.substring(cut + 1));
        String rest = caseName.substring(0, cut);
        boolean v = rest.endsWith("_v");
        String name = rest.substring(0, rest.length() - (v ? 2 : 4));
        Scheduler s = Schedulers.create(name, config(v ? "v_prediction" : "epsilon"));
        s.setTimesteps(steps);
        assertArrayEquals(load(caseName + "_timesteps"), s.timesteps(), caseName + ": timesteps");
        float sigma0 = load(caseName + "_init_sigma")[0];
        assertEquals(sigma0, s.initNoiseSigma(), Math.abs(sigma0) * 1e-6, caseName + ": init noise sigma");
        float[] x = load("latents");
        float init = s.initNoiseSigma();
        for (int i = 0; i < x.length; i++) x[i] *= init;
        double worst = replay(caseName, s, x, 0);
        System.out.printf("scheduler %-24s max rel error %.3g%n", caseName, worst);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"})
    void img2imgMatchesGolden(String name) {
        String caseName = name + "_img2img";
        Scheduler s = Schedulers.create(name, config("epsilon"));
        s.setTimesteps(name.equals("lcm") ? 4 : 10);
        int start = s.startIndexForStrength(0.6);
        assertEquals((int) load(caseName + "_start")[0], start, "start index");
        float[] noised = s.addNoise(load("x0"), load("img_noise"), start);
        double worst = replay(caseName, s, noised, start);
        System.out.printf("scheduler %-24s max rel error %.3g (from step %d)%n", caseName, worst, start);
    }

    @Test
    void startIndexForStrength() {
        Scheduler s = Schedulers.create("ddim", config("epsilon"));
        s.setTimesteps(10);
        assertEquals(0, s.startIndexForStrength(1.0));
        assertEquals(10, s.startIndexForStrength(0.0));
        assertEquals(3, s.startIndexForStrength(0.7)); // int(10 × 0.7) = 7 in double arithmetic
        assertEquals(5, s.startIndexForStrength(0.55));
        s.setTimesteps(50);
        assertEquals(10, s.startIndexForStrength(0.8));
        assertThrows(IllegalArgumentException.class, () -> s.startIndexForStrength(1.5));
    }

    @ParameterizedTest
    @ValueSource(strings = {"scaled_linear", "linear", "squaredcos_cap_v2"})
    void betaSchedules(String kind) {
        String json = switch (kind) {
            case "scaled_linear" -> SD15.formatted("epsilon");
            case "linear" -> "{\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\"}";
            default -> "{\"num_train_timesteps\": 1000, \"beta_schedule\": \"squaredcos_cap_v2\"}";
        };
        NoiseSchedule ns = NoiseSchedule.of(Config.parse(kind, json));
        double rel = Goldens.assertRelClose("alphas_cumprod " + kind, load("acp_" + kind), ns.alphasCumprod(), 1e-6);
        System.out.printf("scheduler alphas_cumprod %-18s rel error %.3g%n", kind, rel);
    }

    /** A run split at step k, serialized, restored into a fresh scheduler and resumed equals the full run exactly. */
    @ParameterizedTest
    @ValueSource(strings = {"ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"})
    void stateRoundTripIsBitExact(String name) throws IOException {
        int steps = name.equals("lcm") ? 6 : 12;
        float[] pattern = load("pattern");
        float[] full = run(Schedulers.create(name, config("epsilon")), steps, 0, steps, null);
        for (int k : new int[] {1, 2, steps / 2, steps - 1}) {
            Scheduler a = Schedulers.create(name, config("epsilon"));
            float[] mid = run(a, steps, 0, k, null);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            a.state().write(new DataOutputStream(bytes));
            SchedulerState st = SchedulerState.read(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
            assertEquals(a.state(), st);
            Scheduler b = Schedulers.create(name, config("epsilon"));
            b.restore(st);
            assertEquals(k, b.state().nextStep());
            float[] resumed = run(b, steps, k, steps, mid);
            assertArrayEquals(full, resumed, name + " resumed at " + k);
        }
        assertTrue(pattern.length > 0);
    }

    /** Runs steps [from, to); x == null starts from scaled latents after setTimesteps. */
    static float[] run(Scheduler s, int steps, int from, int to, float[] x) {
        float[] pattern = load("pattern");
        if (x == null) {
            s.setTimesteps(steps);
            x = load("latents");
            float init = s.initNoiseSigma();
            for (int i = 0; i < x.length; i++) x[i] *= init;
        }
        NoiseSource noise = (out, i) -> {
            java.util.Random r = new java.util.Random(99 + i);
            for (int j = 0; j < out.length; j++) out[j] = (float) r.nextGaussian();
        };
        float[] ts = s.timesteps();
        for (int i = from; i < to; i++) x = s.step(model(s.scaleModelInput(x, i), ts[i], pattern), i, x, noise);
        return x;
    }

    @Test
    void dpmHistoryOnlyContinuesInOrder() {
        Scheduler s = Schedulers.create("dpmpp_2m", config("epsilon"));
        s.setTimesteps(10);
        float[] x = load("latents");
        x = s.step(x.clone(), 0, x, null);
        float[] y = x;
        assertThrows(IllegalStateException.class, () -> s.step(y.clone(), 3, y, null));
    }

    @Test
    void unknownNameListsValidNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("pndm", config("epsilon")));
        assertTrue(e.getMessage().contains("pndm") && e.getMessage().contains("dpmpp_2m_karras"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("ddim", config("sample")));
    }

    @Test
    void deterministicSchedulersRefuseNoise() {
        Scheduler s = Schedulers.create("euler_a", config("epsilon"));
        s.setTimesteps(4);
        float[] x = load("latents");
        assertThrows(IllegalStateException.class, () -> s.step(x, 0, x, NoiseSource.none()));
    }

    @Test
    void knownTimestepTables() {
        Config c = config("epsilon");
        Scheduler ddim = Schedulers.create("ddim", c);
        ddim.setTimesteps(4);
        assertArrayEquals(new float[] {751, 501, 251, 1}, ddim.timesteps());
        Scheduler lcm = Schedulers.create("lcm", c);
        lcm.setTimesteps(4);
        assertArrayEquals(new float[] {999, 759, 499, 259}, lcm.timesteps());
        Scheduler dpm = Schedulers.create("dpmpp_2m", c);
        dpm.setTimesteps(4);
        assertArrayEquals(new float[] {999, 749, 500, 250}, dpm.timesteps());
        Scheduler euler = Schedulers.create("euler", c);
        euler.setTimesteps(1);
        assertArrayEquals(new float[] {0}, euler.timesteps());
    }
}
