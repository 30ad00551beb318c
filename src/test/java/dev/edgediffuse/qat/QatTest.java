package dev.edgediffuse.qat;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.Int8Activations;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import dev.edgediffuse.testing.TinyTeacher;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Quantization-aware training: the fake quantizers are the runtime's grid (against the quantizer's own output), their
 * straight-through/LSQ gradients match torch autograd (tools/goldens/qat.py), an exported model runs on the plain
 * kernels to the fake-quantized model's output, a tiny run resumes bit for bit, and bad recipes are one-line errors.
 */
class QatTest {
    @TempDir
    static Path dir;
    static Path teacher, images, calibration;

    @BeforeAll
    static void write() throws IOException {
        teacher = TinyTeacher.write(dir.resolve("teacher"), 1, 5);
        images = TinyTeacher.captionedImages(dir.resolve("images"), 12);
        calibration = dir.resolve("teacher.quant").resolve(Calibration.FILE);
        try (Checkpoint cp = Checkpoint.open(teacher, null)) {
            Calibration.collect(cp, new Calibration.Settings("ddim", 2, 2f, 1000, 32, 32, 3, 2, 64, 1, 1, "test"),
                    List.of("a photo of a sneaker", "a dress"), calibration, null, null, 0);
        }
    }

    static String recipe(String weights, String activations, long steps) {
        return """
                {"name": "qat", "teacher": "%s", "data": "%s", "seed": 9, "checkpoint_seconds": 0, "dtype": "f32",
                 "weights": "%s", "activations": "%s", "train": "weights", "clip": "absmax",
                 "loss": {"task": 1, "output": 1},
                 "qat": {"steps": %d, "batch": 3, "lr": 1e-3, "warmup": 1, "ema": 0.9}}
                """.formatted(teacher, images, weights, activations, steps);
    }

    static QatRecipe read(String text) throws IOException {
        return QatRecipe.read(Files.writeString(dir.resolve("r" + System.nanoTime() + ".json"), text));
    }

    private static float[] random(int n, float scale, long seed) {
        Rng r = new Rng(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    @Test
    void fakeQuantizedWeightsAreTheRuntimesQuantizeThenDequantize() {
        int[][] shapes = {{8, 3, 3, 3}, {6, 64}, {4, 96}, {4, 128}};
        DType[] types = {DType.Q8, DType.Q4_32, DType.Q8_32, DType.Q4_64};
        for (int c = 0; c < types.length; c++) {
            int n = 1;
            for (int d : shapes[c]) n *= d;
            float[] w = random(n, 0.1f, c);
            w[5] = 0.9f; // an outlier some groups must clamp once their scales shrink
            for (Quantizer.Clip clip : Quantizer.Clip.values()) {
                WeightQuantizer q = WeightQuantizer.init(w, shapes[c], types[c], clip);
                float[] runtime = new Weight("w", types[c], shapes[c], MemorySegment.ofArray(Quantizer.quantize(w, shapes[c], types[c], clip))).toFloats();
                assertArrayEquals(runtime, q.forward(w), types[c] + " " + clip);
                // trained scales: the export (the runtime's codes on those scales) still equals the fake quantizer
                Rng r = new Rng(c);
                for (int g = 0; g < q.scales().length; g++) q.scales()[g] *= 0.6f + 0.5f * (float) r.nextDouble();
                float[] exported = new Weight("w", types[c], shapes[c], MemorySegment.ofArray(Quantizer.quantize(w, shapes[c], types[c], q.usedScales()))).toFloats();
                assertArrayEquals(exported, q.forward(w), types[c] + " " + clip + " trained");
            }
        }
    }

    @Test
    void weightGradientsMatchTorchsStraightThroughLsq() {
        for (String c : List.of("q8", "q4_32")) {
            float[] w = Goldens.load("qat", c + "_w").data(), s = Goldens.load("qat", c + "_scales").data(), dy = Goldens.load("qat", c + "_dy").data();
            int k = c.equals("q8") ? 40 : 64;
            WeightQuantizer q = WeightQuantizer.of(c.equals("q8") ? DType.Q8 : DType.Q4_32, new int[]{w.length / k, k}, s);
            float[] out;
            float[][] grads;
            try (Tape tape = Tape.begin(List.of(w, s))) {
                out = q.forward(w);
                tape.backward(out, dy);
                grads = new float[][]{tape.grad(w), tape.grad(s)};
            }
            Goldens.assertClose(c + " out", Goldens.load("qat", c + "_out").data(), out, 1e-7);
            Goldens.assertRelClose(c + " dw", Goldens.load("qat", c + "_dw").data(), grads[0], 1e-6);
            Goldens.assertRelClose(c + " ds", Goldens.load("qat", c + "_ds").data(), grads[1], 1e-5);
        }
    }

    @Test
    void activationGradientsMatchTorchsStraightThroughLsq() {
        float[] x = Goldens.load("qat", "act_x").data(), range = Goldens.load("qat", "act_range").data(), dy = Goldens.load("qat", "act_dy").data();
        ActivationQuantizer q = new ActivationQuantizer(range);
        float[] out, dx, dr;
        try (Tape tape = Tape.begin(List.of(x, range))) {
            out = q.forward(x, 0, x.length);
            tape.backward(out, dy);
            dx = tape.grad(x);
            dr = tape.grad(range);
        }
        assertArrayEquals(Int8Activations.quantized(x, 0, x.length, q.used()), out, "the runtime's 8-bit activations");
        Goldens.assertClose("act out", Goldens.load("qat", "act_out").data(), out, 1e-6);
        Goldens.assertRelClose("act dx", Goldens.load("qat", "act_dx").data(), dx, 1e-6);
        Goldens.assertRelClose("act drange", Goldens.load("qat", "act_drange").data(), dr, 1e-4);
    }

    /** Trained-looking weights and scales (perturbed), exported: the runtime's UNet gives the fake-quantized UNet's output. */
    @Test
    void theExportedModelRunsOnThePlainKernelsToTheFakeQuantizedOutput() throws IOException {
        for (String[] c : new String[][]{{"q8", "int8"}, {"q4_32", "float"}}) {
            QatRecipe recipe = read(recipe(c[0], c[1], 2).replace("\"clip\"", "\"calibration\": \"" + calibration + "\", \"clip\""));
            try (Checkpoint cp = Checkpoint.open(teacher, null)) {
                Map<String, ActivationRanges.Range> ranges = null;
                if (recipe.int8Activations()) {
                    ranges = new java.util.LinkedHashMap<>();
                    try (Calibration cal = Calibration.open(calibration)) {
                        for (Calibration.Layer l : cal.layers().values()) ranges.put(l.path, new ActivationRanges.Range(Math.min(l.min, 0), Math.max(l.max, 0)));
                    }
                }
                QuantizationAwareTraining.State state = QuantizationAwareTraining.state(cp.unet, recipe, ranges);
                Rng r = new Rng(3);
                for (float[] v : state.weights().arrays()) for (int i = 0; i < v.length; i++) v[i] += 0.01f * r.nextGaussian();
                state.weightQuantizers().values().forEach(q -> {
                    for (int g = 0; g < q.scales().length; g++) q.scales()[g] *= 0.8f + 0.4f * (float) r.nextDouble();
                });
                state.inputQuantizers().values().forEach(q -> q.range()[1] *= 0.7f);
                FeatureMap x = new FeatureMap(random(2 * 8 * 8 * 4, 1f, 7), 2, 8, 8, 4);
                float[] ts = {900, 150}, ctx = random(2 * 77 * 64, 1f, 8);
                float[] fake = state.unet(cp.unet.config()).predict(x, ts, ctx, 77).data().clone();
                Path out = dir.resolve("export-" + c[0]);
                QatExport.write(cp, state, "f32", Map.of("name", "test"), out);
                try (Checkpoint exported = Checkpoint.open(out, null)) {
                    int quantized = 0;
                    for (var e : state.weightQuantizers().entrySet()) {
                        Weight stored = exported.unet.tensors().get(e.getKey() + ".weight").get();
                        assertEquals(e.getValue().type(), stored.dtype());
                        // the stored weight decodes to exactly the fake quantizer's grid values
                        assertArrayEquals(e.getValue().forward(state.weights().get(e.getKey() + ".weight")), stored.toFloats(), e.getKey());
                        quantized++;
                    }
                    assertTrue(quantized > 3, "layers quantized: " + quantized);
                    LayerPolicy policy = recipe.int8Activations() ? new Int8Activations(ActivationRanges.read(out), LayerPolicy.DENSE) : LayerPolicy.DENSE;
                    assertEquals(recipe.int8Activations(), Files.isRegularFile(out.resolve("unet").resolve(ActivationRanges.FILE)));
                    float[] runtime = new UNet2DConditionModel(exported.unet.config(), exported.unet.weights().withPolicy(policy)).predict(x, ts, ctx, 77).data();
                    double err = Goldens.relError(fake, runtime);
                    assertTrue(err < 1e-5, c[0] + "/" + c[1] + ": relative error " + err);
                    float[] floatOut = new UNet2DConditionModel(cp.unet.config(), cp.unet.weights()).predict(x, ts, ctx, 77).data();
                    assertTrue(Goldens.relError(floatOut, runtime) > 1e-3, "the quantized model differs from the float one");
                }
            }
        }
    }

    @Test
    void aKilledRunResumesAndWritesTheSameFiles() throws IOException {
        QatRecipe recipe = read(recipe("q8", "int8", 6).replace("\"clip\"", "\"calibration\": \"" + calibration + "\", \"clip\""));
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        Path straight = dir.resolve("straight"), resumed = dir.resolve("resumed");
        assertTrue(new QuantizationAwareTraining(recipe, straight, dir.resolve("straight.work"), null, null, quiet).run());
        QuantizationAwareTraining killed = new QuantizationAwareTraining(recipe, resumed, dir.resolve("resumed.work"), null, null, quiet);
        killed.stopAfter(3);
        assertFalse(killed.run());
        assertFalse(Files.exists(resumed));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        assertTrue(new QuantizationAwareTraining(recipe, resumed, dir.resolve("resumed.work"), null, null, new PrintStream(log)).run());
        assertTrue(log.toString().contains("resuming at step 3 of 6"), log.toString());
        for (String f : List.of("unet/diffusion_pytorch_model.safetensors", "unet/" + ActivationRanges.FILE, "unet/config.json")) {
            assertArrayEquals(Files.readAllBytes(straight.resolve(f)), Files.readAllBytes(resumed.resolve(f)), f);
        }
        assertTrue(Files.readString(dir.resolve("straight.work/qat.log.jsonl")).contains("\"output_kd\""));
        // the scales trained, and the EMA (of the weights only) is what was written
        try (Checkpoint cp = Checkpoint.open(straight, null); Checkpoint t = Checkpoint.open(teacher, null)) {
            QuantizationAwareTraining.State init = QuantizationAwareTraining.state(t.unet, recipe, null);
            String layer = init.weightQuantizers().keySet().iterator().next();
            Weight w = cp.unet.tensors().get(layer + ".weight").get();
            float[] initial = init.weightQuantizers().get(layer).usedScales(), trained = new float[initial.length];
            for (int g = 0; g < trained.length; g++) trained[g] = w.quantLayout().scale(w.data(), g);
            assertFalse(java.util.Arrays.equals(initial, trained), "scales changed in training");
        }
        // the CLI runs it (scales only: the weights stay the teacher's), and the result generates with int8 activations
        var run = dev.edgediffuse.cli.MainRunner.run("qat", "--recipe", Files.writeString(dir.resolve("cli.json"), recipe(
                "q4_32", "float", 2).replace("\"train\": \"weights\"", "\"train\": \"scales\"")).toString(), "--out", dir.resolve("cli").toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("qat 2/2") && run.out().contains("scales trained"), run.out());
        try (Checkpoint cp = Checkpoint.open(dir.resolve("cli"), null); Checkpoint t = Checkpoint.open(teacher, null)) {
            for (var e : t.unet.tensors().entrySet()) {
                if (cp.unet.tensors().get(e.getKey()).dtype().quantized()) continue;
                assertArrayEquals(e.getValue().get().toFloats(), cp.unet.tensors().get(e.getKey()).get().toFloats(), e.getKey());
            }
        }
        var gen = dev.edgediffuse.cli.MainRunner.run("generate", "--model", straight.toString(), "--activations", "int8", "--prompt", "a dress",
                "--steps", "2", "--out", dir.resolve("qat.png").toString(), "--quiet");
        assertEquals(0, gen.code(), gen.err());
    }

    @Test
    void tokenMergingTrainsTheMergedStudentAndResumesBitForBit() throws IOException {
        QatRecipe plain = read(recipe("q8", "float", 4)), merged = read(recipe("q8", "float", 4).replace("\"seed\": 9", "\"seed\": 9, \"tome\": 0.5"));
        assertEquals(0.5, merged.tome().ratio());
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        Path without = dir.resolve("tome-off"), straight = dir.resolve("tome-straight"), resumed = dir.resolve("tome-resumed");
        assertTrue(new QuantizationAwareTraining(plain, without, dir.resolve("tome-off.work"), null, null, quiet).run());
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        assertTrue(new QuantizationAwareTraining(merged, straight, dir.resolve("tome-straight.work"), null, null, new PrintStream(log)).run());
        assertTrue(log.toString().contains("token merging 0.5 in the student"), log.toString());
        QuantizationAwareTraining killed = new QuantizationAwareTraining(merged, resumed, dir.resolve("tome-resumed.work"), null, null, quiet);
        killed.stopAfter(2);
        assertFalse(killed.run());
        assertTrue(new QuantizationAwareTraining(merged, resumed, dir.resolve("tome-resumed.work"), null, null, quiet).run());
        String unet = "unet/diffusion_pytorch_model.safetensors";
        assertArrayEquals(Files.readAllBytes(straight.resolve(unet)), Files.readAllBytes(resumed.resolve(unet)), "resumed with token merging");
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(without.resolve(unet)), Files.readAllBytes(straight.resolve(unet))),
                "merging the student's tokens changes what it learns");
        assertTrue(Files.readString(straight.resolve("recipe.json")).contains("\"tome\""), "the provenance records token merging");
    }

    @Test
    void theShippedRecipesParse() {
        assertEquals("W4A16 (q4_32)", QatRecipe.read(Path.of("recipes/mini-qat-w4a16.json")).label());
        assertEquals("W8A8 (q8)", QatRecipe.read(Path.of("recipes/mini-qat-w8a8.json")).label());
        assertEquals("W4A8 (q4_32)", QatRecipe.read(Path.of("recipes/mini-qat-w4a8.json")).label());
        assertEquals(0.5, QatRecipe.read(Path.of("recipes/mini-qat-w8a8-tome.json")).tome().ratio());
        assertEquals(0.0, QatRecipe.read(Path.of("recipes/mini-qat-w4a16-kd.json")).taskWeight(), "output distillation only");
    }

    @Test
    void badInputIsAOneLineError() throws IOException {
        String ok = recipe("q4_32", "float", 2);
        for (String[] bad : new String[][]{
                {"\"weights\": \"q4_32\"", "\"weights\": \"q4_32z\"", "\"weights\" must be a symmetric quantized format the runtime runs"},
                {"\"weights\": \"q4_32\"", "\"weights\": \"f16\"", "got f16"},
                {"\"activations\": \"float\"", "\"activations\": \"int4\"", "\"activations\" must be float or int8"},
                {"\"train\": \"weights\"", "\"train\": \"all\"", "\"train\" must be weights"},
                {"\"task\": 1", "\"taks\": 1", "unknown key \"taks\""},
                {"\"seed\": 9", "\"seed\": 9, \"tomes\": 0.5", "unknown key \"tomes\""},
                {"\"seed\": 9", "\"seed\": 9, \"tome\": 1.5", "\"tome\" must be a token-merging ratio in (0, 1)"},
                {"\"seed\": 9", "\"seed\": 9, \"tome\": 0.5, \"tome_max_downsample\": 3", "\"tome_max_downsample\" must be 1, 2, 4 or 8"},
                {"\"seed\": 9", "\"seed\": 9, \"tome_max_downsample\": 2", "\"tome_max_downsample\" needs \"tome\""},
                {"\"lr\": 1e-3", "\"lr\": -1", "steps, batch and lr must be positive"}}) {
            assertTrue(ok.contains(bad[0]), bad[0]);
            String m = assertThrows(ModelFormatException.class, () -> read(ok.replace(bad[0], bad[1]))).getMessage();
            assertTrue(m.contains(bad[2]) && !m.contains("\n"), m);
        }
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        Path other = TinyTeacher.write(dir.resolve("other"), 2, 5);
        String m = assertThrows(ModelFormatException.class, () -> new QuantizationAwareTraining(read(ok), dir.resolve("x"), dir.resolve("x.work"),
                null, other.toString(), quiet).run()).getMessage();
        assertTrue(m.contains("has another UNet architecture") && !m.contains("\n"), m);
        m = assertThrows(ModelFormatException.class, () -> new QuantizationAwareTraining(read(recipe("q8", "int8", 2)), dir.resolve("y"),
                dir.resolve("y.work"), other.toString(), other.toString(), quiet).run()).getMessage();
        assertTrue(m.contains("need the teacher's calibration") && !m.contains("\n"), m);
    }
}
