package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.lora.LoraFile;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.GuidanceEmbedding;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.scheduler.NoiseSchedule;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.testing.Goldens;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Latent consistency distillation: the guidance embedding and boundary scalings against diffusers (tools/goldens/lcm.py),
 * the objective's gradient against finite differences, a student that starts as its teacher, a kill/resume that writes
 * the same model bit for bit, and a written student that samples in a few LCM steps.
 */
class LcmDistillationTest {
    @Test
    void guidanceEmbeddingAndBoundaryScalingsMatchDiffusers() {
        float[] w = {0f, 0.5f, 1f, 2.5f, 7f};
        for (int dim : new int[]{256, 7}) {
            Npy.Array expected = Goldens.load("lcm", "guidance_embedding_" + dim);
            // sin/cos of arguments up to 7000 in float32, as the reference computes them: one ulp of such an argument is
            // 5e-4, so a last-bit difference in a frequency (exp) moves the value by that much
            Goldens.assertClose("guidance embedding " + dim, expected.data(), GuidanceEmbedding.of(w, dim), 1e-3);
        }
        float[] rows = Goldens.load("lcm", "boundary").data();
        for (int r = 0; r < rows.length / 3; r++) {
            int t = (int) rows[3 * r];
            assertEquals(rows[3 * r + 1], ConsistencyObjective.cSkip(t), 1e-6 * Math.max(1, rows[3 * r + 1]), "c_skip at " + t);
            assertEquals(rows[3 * r + 2], ConsistencyObjective.cOut(t), 1e-6, "c_out at " + t);
        }
    }

    static Config withCondDim(Config c, int dim) {
        Map<String, Object> v = new LinkedHashMap<>(c.values());
        v.put("time_cond_proj_dim", dim);
        return new Config(c.source(), v);
    }

    /** The tiny UNet's parameters with time_cond_proj_dim 8, cond_proj at zero. */
    static Parameters student(Parameters teacher, Config studentConfig) {
        Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(studentConfig), new Rng(1));
        for (String n : p.names()) {
            float[] v = p.get(n);
            if (teacher.shapes().containsKey(n)) System.arraycopy(teacher.get(n), 0, v, 0, v.length);
            else java.util.Arrays.fill(v, 0f);
        }
        return p;
    }

    @Test
    void aStudentWithZeroCondProjStartsAsItsTeacher() {
        Config cfg = ModelConfigs.builtIn("tiny").unet(), sc = withCondDim(cfg, 8);
        Parameters t = Parameters.initialize(RandomCheckpoint.unetTensors(cfg), new Rng(2)), s = student(t, sc);
        UNet2DConditionModel teacher = new UNet2DConditionModel(cfg, t.weights("t")), student = new UNet2DConditionModel(sc, s.weights("s"));
        float[] x = random(2 * 4 * 4 * 4, 3), ctx = random(2 * 3 * 64, 4), ts = {19, 799};
        float[] a = teacher.predict(new FeatureMap(x.clone(), 2, 4, 4, 4), ts, ctx, 3).data();
        float[] b = student.predict(new FeatureMap(x.clone(), 2, 4, 4, 4), ts, ctx, 3,
                UNetHooks.NONE.withTimestepCond(GuidanceEmbedding.of(new float[]{0.3f, 1.7f}, 8))).data();
        assertArrayEquals(a, b);
    }

    /**
     * The objective's gradient (pseudo-Huber on the consistency functions, through c_skip/c_out and the ε → x̂₀ map)
     * against finite differences; c = 1 keeps the loss smooth at the step size (at c = 0.001 it is nearly L1).
     */
    @Test
    void gradientMatchesFiniteDifferences() {
        ModelConfigs tiny = ModelConfigs.builtIn("tiny");
        Config cfg = tiny.unet(), sc = withCondDim(cfg, 8);
        Parameters teacherParams = Parameters.initialize(RandomCheckpoint.unetTensors(cfg), new Rng(5));
        Parameters s = student(teacherParams, sc);
        Rng r = new Rng(9);
        for (String n : s.names()) if (n.contains("cond_proj")) for (int i = 0; i < s.get(n).length; i++) s.get(n)[i] = 0.05f * r.nextGaussian();
        UNet2DConditionModel teacher = new UNet2DConditionModel(cfg, teacherParams.weights("t"));
        UNet2DConditionModel student = new UNet2DConditionModel(sc, s.weights("s"));
        UNet2DConditionModel target = new UNet2DConditionModel(sc, s.copy().weights("target"));
        Parameters textParams = Parameters.initialize(RandomCheckpoint.textTensors(tiny.text()), new Rng(6));
        ClipTextModel text = new ClipTextModel(tiny.text(), textParams.weights("text"));
        Parameters vaeParams = Parameters.initialize(RandomCheckpoint.vaeTensors(tiny.vae()), new Rng(7));
        AutoencoderKL vae = new AutoencoderKL(tiny.vae(), vaeParams.weights("vae"));
        LatentDataset latents = LatentDataset.encode(vae, new FeatureMap(random(4 * 32 * 32 * 3, 8), 4, 32, 32, 3), 0.5f, null);
        float[] alphas = NoiseSchedule.of(tiny.scheduler()).alphasCumprod();
        var settings = new ConsistencyObjective.Settings(50, 0.5, 2.0, 1000, 1.0, 2, 11);
        var objective = new ConsistencyObjective(student, target, teacher, text, ClipTokenizer.builtIn(), latents,
                (i, rng) -> i % 2 == 0 ? "a cat" : "a dog", alphas, settings);
        String name = "conv_out.bias";
        float[] p = s.get(name);
        double analytic;
        try (Tape tape = Tape.begin(s.arrays())) {
            objective.step(tape, 3);
            analytic = tape.grad(p)[1];
        }
        float h = 1e-2f, saved = p[1];
        p[1] = saved + h;
        double up = loss(objective, s, 3);
        p[1] = saved - h;
        double down = loss(objective, s, 3);
        p[1] = saved;
        double numeric = (up - down) / (2 * h);
        System.out.printf("consistency loss d/d %s[1]: analytic %.6e, finite differences %.6e%n", name, analytic, numeric);
        assertEquals(numeric, analytic, 0.03 * Math.abs(numeric) + 1e-7);
    }

    static double loss(ConsistencyObjective o, Parameters s, long step) {
        try (Tape tape = Tape.begin(s.arrays())) {
            return o.step(tape, step);
        }
    }

    static LcmRecipe recipe(Path dir, String mode) throws IOException {
        Path f = dir.resolve(mode + ".json");
        Files.writeString(f, """
                {"name": "tiny-lcm", "teacher": "unused", "data": "%s", "images": 64, "seed": 3, "checkpoint_seconds": 0, "dtype": "f32",
                 "mode": "%s", "time_cond_proj_dim": 8, "w_min": 0.5, "w_max": 1.5, "guidance_max_timestep": 450,
                 "lora": {"rank": 2, "alpha": 2, "target": "all"},
                 "distill": {"steps": 4, "batch": 2, "lr": 1e-4, "warmup": 1, "ema": 0.95},
                 "sampling_defaults": {"steps": 4, "scheduler": "lcm", "cfg_scale": 2.0}}
                """.formatted(FashionMnist.DEFAULT_DIR, mode));
        return LcmRecipe.read(f);
    }

    @Test
    void killedAndResumedWritesTheSameStudentWhichSamplesInFourSteps(@TempDir Path dir) throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "needs Fashion-MNIST");
        Path tiny = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(tiny, ModelConfigs.builtIn("tiny"), DType.F32, 4);
        LcmRecipe recipe = recipe(dir, "full");
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        Path a = dir.resolve("a"), b = dir.resolve("b");
        try (Checkpoint teacher = Checkpoint.open(tiny, null)) {
            assertTrue(new LcmDistillation(recipe, teacher, a, dir.resolve("wa"), quiet).run() >= 0);
            LcmDistillation killed = new LcmDistillation(recipe, teacher, b, dir.resolve("wb"), quiet);
            killed.stopAfter(2);
            assertEquals(-1, killed.run());
            assertFalse(Files.exists(b), "a killed run leaves no output");
            new LcmDistillation(recipe, teacher, b, dir.resolve("wb"), quiet).run();
        }
        assertArrayEquals(Files.readAllBytes(a.resolve("unet/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(b.resolve("unet/diffusion_pytorch_model.safetensors")));
        assertTrue(Files.readString(a.resolve("unet/config.json")).contains("\"time_cond_proj_dim\":8"));
        // the student samples with its defaults: LCM, 4 steps, guidance through the embedding (one UNet row per step)
        try (Pipeline p = Pipeline.load(a)) {
            assertEquals("lcm", p.samplingDefaults().scheduler());
            GenerateRequest req = GenerateRequest.of("a cat").withSize(32, 32).withSteps(4).withScheduler("lcm").withCfg(2f).withSeed(1);
            GenerateResult r1 = p.generate(req), r2 = p.generate(req.withCfg(3f));
            assertEquals(4, r1.timings().unetStepSeconds().length);
            assertFalse(java.util.Arrays.equals(r1.latentsNchw(), r2.latentsNchw()), "the guidance scale reaches the student");
        }
    }

    @Test
    void lcmLoraWritesAKohyaFile(@TempDir Path dir) throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "needs Fashion-MNIST");
        Path tiny = dir.resolve("tiny");
        RandomCheckpoint.writeFolder(tiny, ModelConfigs.builtIn("tiny"), DType.F32, 4);
        Path out = dir.resolve("lcm-lora.safetensors");
        try (Checkpoint teacher = Checkpoint.open(tiny, null)) {
            new LcmDistillation(recipe(dir, "lora").withSteps(2), teacher, out, dir.resolve("w"), new PrintStream(new ByteArrayOutputStream())).run();
        }
        try (LoraFile f = LoraFile.read(out)) {
            assertEquals("2", f.metadata().get("ss_network_dim"));
            assertTrue(f.modules().stream().anyMatch(m -> m.layer().contains("resnets")), "LoCon on the ResNets too");
            assertTrue(f.modules().stream().anyMatch(m -> m.down().shape().length == 4 && m.down().shape()[2] == 3));
        }
    }

    static float[] random(int n, long seed) {
        Rng r = new Rng(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = 0.5f * r.nextGaussian();
        return v;
    }
}
