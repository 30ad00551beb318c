package dev.edgediffuse.model.clip;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.edgediffuse.testing.Goldens.assertClose;
import static dev.edgediffuse.testing.Goldens.load;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The text transformer against a float64 torch reference (tools/goldens/clip.py) on tiny random checkpoints:
 * SD1-style (quick_gelu, 3 layers, hidden 32) and SD2-style (gelu, 2 layers, hidden 48), batch 2 × 77 tokens.
 * Outputs are LayerNorm-scaled (|x| ≲ 4), so fp32 accumulation error stays near 1e-6; the bound is 1e-5.
 */
class ClipTextModelTest {
    private static final String C = "clip";
    private static final double FP32_TOL = 1e-5;

    private static int[][] ids(String name) {
        float[] flat = load(C, name + "_ids").data();
        int[][] ids = new int[2][77];
        for (int b = 0; b < 2; b++) for (int t = 0; t < 77; t++) ids[b][t] = (int) flat[b * 77 + t];
        return ids;
    }

    private static float[] run(String name, String file, int skip, DType expectedType) {
        Path dir = Goldens.dir(C).resolve(name);
        try (SafeTensors st = SafeTensors.open(dir.resolve(file))) {
            assertEquals(expectedType, st.tensors().get("text_model.encoder.layers.0.mlp.fc1.weight").dtype());
            ClipTextModel m = new ClipTextModel(Config.read(dir.resolve("config.json")), new Weights(file, st.tensors()));
            return m.encode(ids(name), skip);
        }
    }

    private static void report(String what, double err) {
        System.out.printf("%s: max abs error %.3g%n", what, err);
    }

    @Test
    void sd1QuickGeluMatchesTorch() {
        report("sd1 last layer", assertClose("sd1 last layer", load(C, "sd1_hidden").data(), run("sd1", "model.safetensors", 0, DType.F32), FP32_TOL));
        report("sd1 clip skip 1", assertClose("sd1 clip skip 1", load(C, "sd1_hidden_skip1").data(), run("sd1", "model.safetensors", 1, DType.F32), FP32_TOL));
    }

    @Test
    void sd2GeluMatchesTorch() {
        report("sd2 last layer", assertClose("sd2 last layer", load(C, "sd2_hidden").data(), run("sd2", "model.safetensors", 0, DType.F32), FP32_TOL));
        report("sd2 clip skip 1", assertClose("sd2 clip skip 1", load(C, "sd2_hidden_skip1").data(), run("sd2", "model.safetensors", 1, DType.F32), FP32_TOL));
    }

    /** The goldens were computed from the same weights rounded to F16/BF16, so only fp32 arithmetic error remains. */
    @Test
    void halfPrecisionCheckpointsMatchTorchOnRoundedWeights() {
        report("sd1 F16 weights", assertClose("sd1 F16 weights", load(C, "sd1_hidden_f16").data(), run("sd1", "model.f16.safetensors", 0, DType.F16), FP32_TOL));
        report("sd1 BF16 weights", assertClose("sd1 BF16 weights", load(C, "sd1_hidden_bf16").data(), run("sd1", "model.bf16.safetensors", 0, DType.BF16), FP32_TOL));
        // Against the full-precision reference: the rounding itself (BF16 keeps 8 mantissa bits) dominates.
        report("sd1 F16 vs F32 reference", assertClose("sd1 F16 vs F32", load(C, "sd1_hidden").data(), run("sd1", "model.f16.safetensors", 0, DType.F16), 1e-2));
        report("sd1 BF16 vs F32 reference", assertClose("sd1 BF16 vs F32", load(C, "sd1_hidden").data(), run("sd1", "model.bf16.safetensors", 0, DType.BF16), 6e-2));
    }

    @Test
    void missingOrMisshapenTensorIsNamed() {
        Path dir = Goldens.dir(C).resolve("sd1");
        Config config = Config.read(dir.resolve("config.json"));
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            Map<String, Weight> missing = new LinkedHashMap<>(st.tensors());
            missing.remove("text_model.encoder.layers.1.self_attn.k_proj.bias");
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> new ClipTextModel(config, new Weights("ckpt", missing)));
            assertTrue(e.getMessage().contains("text_model.encoder.layers.1.self_attn.k_proj.bias") && e.getMessage().contains("missing"), e.getMessage());

            Map<String, Weight> misshapen = new LinkedHashMap<>(st.tensors());
            String name = "text_model.embeddings.position_embedding.weight";
            misshapen.put(name, Weight.ofFloats(name, new float[76 * 32], 76, 32));
            e = assertThrows(ModelFormatException.class, () -> new ClipTextModel(config, new Weights("ckpt", misshapen)));
            assertTrue(e.getMessage().contains(name) && e.getMessage().contains("[76, 32]"), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line");

            Config badAct = Config.parse("config.json", "{\"hidden_size\":32,\"intermediate_size\":64,\"num_attention_heads\":4,"
                    + "\"num_hidden_layers\":3,\"vocab_size\":1000,\"hidden_act\":\"relu\"}");
            e = assertThrows(ModelFormatException.class, () -> new ClipTextModel(badAct, new Weights("ckpt", st.tensors())));
            assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        }
    }

    @Test
    void weightsAlreadyScopedToTextModelWork() {
        Path dir = Goldens.dir(C).resolve("sd1");
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            Map<String, Weight> prefixed = new LinkedHashMap<>();
            st.tensors().forEach((k, v) -> prefixed.put("cond_stage_model.transformer." + k, v));
            ClipTextModel m = new ClipTextModel(Config.read(dir.resolve("config.json")),
                    new Weights("single file", prefixed).scope("cond_stage_model.transformer.text_model"));
            assertClose("scoped weights", load(C, "sd1_hidden").data(), m.encode(ids("sd1")), FP32_TOL);
            assertThrows(IllegalArgumentException.class, () -> m.encode(new int[][]{{1, 1000}}));
            assertThrows(IllegalArgumentException.class, () -> m.encode(ids("sd1"), 3));
        }
    }

    /** A learnt token vector, used scaled, stands in for its table row; its gradient matches finite differences. */
    @Test
    void tokenVectorsReplaceTheirRowsAndGetGradients() {
        var tiny = dev.edgediffuse.checkpoint.ModelConfigs.builtIn("tiny").text();
        var params = dev.edgediffuse.train.Parameters.initialize(dev.edgediffuse.checkpoint.RandomCheckpoint.textTensors(tiny),
                new dev.edgediffuse.train.Rng(3));
        ClipTextModel m = new ClipTextModel(tiny, params.weights("tiny"));
        int[][] ids = {{0, 7, 9, 2}, {0, 9, 2, 1}};
        float[] row = new float[64];
        params.get("embeddings.token_embedding.weight");
        System.arraycopy(params.get("embeddings.token_embedding.weight"), 9 * 64, row, 0, 64);
        float[] third = row.clone();
        for (int i = 0; i < 64; i++) third[i] /= 3f;
        assertArrayEqualsWithin(m.encode(ids), m.encode(ids, 0, Map.of(9, third), 3f), 1e-5f);

        float[] u = new float[64], r = new float[2 * 4 * 64];
        var rng = new dev.edgediffuse.train.Rng(4);
        for (int i = 0; i < u.length; i++) u[i] = 0.3f * rng.nextGaussian();
        for (int i = 0; i < r.length; i++) r[i] = rng.nextGaussian();
        double analytic;
        try (var tape = dev.edgediffuse.autograd.Tape.begin(java.util.List.of(u))) {
            float[] out = m.encode(ids, 0, Map.of(9, u), 3f);
            tape.backward(out, r.clone());
            analytic = tape.grad(u)[5];
        }
        float h = 1e-2f, saved = u[5];
        u[5] = saved + h;
        double up = dot(m.encode(ids, 0, Map.of(9, u), 3f), r);
        u[5] = saved - h;
        double down = dot(m.encode(ids, 0, Map.of(9, u), 3f), r);
        u[5] = saved;
        assertEquals((up - down) / (2 * h), analytic, 0.02 * Math.abs(analytic) + 1e-4);
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    private static void assertArrayEqualsWithin(float[] a, float[] b, float tol) {
        assertEquals(a.length, b.length);
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], tol, "index " + i);
    }
}
