package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.nn.DenseConv;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Calibration, sensitivity and the calibrated passes on the tiny random checkpoint: the stored statistics are those
 * of the inputs the layers really see (checked through the convolution kernel on the kept UNet calls), the data
 * refuses another model or schedule, each sensitivity entry equals the output error of a model converted with only
 * that layer in that format, a killed sensitivity run resumes to the same table, and GPTQ beats nearest rounding on
 * the layer outputs.
 */
class CalibrationTest {
    @TempDir
    static Path dir;
    static Path model, file;
    static final List<String> PROMPTS = List.of("a red fox", "a lighthouse at dusk");
    static final Calibration.Settings SETTINGS = new Calibration.Settings("euler", 3, 7.5f, 1000, 64, 64, 11, 2, 128, 3, 2, "test");

    @BeforeAll
    static void calibrate() throws IOException {
        model = TinyCheckpoints.write(dir).folder();
        file = dir.resolve("tiny.quant").resolve(Calibration.FILE);
        try (Checkpoint cp = Checkpoint.open(model, null)) {
            Calibration.collect(cp, SETTINGS, PROMPTS, file, null, null, 0);
        }
    }

    @Test
    void everyLayerIsObservedOnEveryRowOfEveryCall() {
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            long matrices = cp.unet.tensors().values().stream().filter(t -> t.name().endsWith(".weight") && t.shape().length >= 2).count();
            assertEquals(matrices, c.layers().size());
            // 3 steps x 2 prompts x both guidance halves
            assertEquals(12, c.layer("time_embedding.linear_1").rows);
            assertEquals(12, c.keptTimesteps().length, "every call kept");
            assertEquals(12L * 77, c.layer("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k").rows);
            assertEquals(12L * 8 * 8, c.layer("conv_in").rows);
            assertEquals(c.identity, ModelIdentity.of(cp));
        }
    }

    @Test
    void convInsHessianIsThatOfTheKeptUNetInputs() {
        try (Calibration c = Calibration.open(file)) {
            Calibration.Layer l = c.layer("conv_in");
            assertEquals(36, l.k);
            double[] h = l.hessianBlock(0);
            FeatureMap x = c.keptLatents();
            float[] w = new float[5 * 36];
            Random r = new Random(3);
            for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
            DenseConv conv = new DenseConv(new Weights("t", Map.of("c.weight", Weight.ofFloats("c.weight", w, 5, 4, 3, 3))), "c", 4, 5, 3, 1,
                    new int[]{1, 1, 1, 1}, false);
            float[] y = conv.forward(x).data();
            for (int o = 0; o < 5; o++) {
                double energy = 0, quadratic = 0;
                for (int p = o; p < y.length; p += 5) energy += (double) y[p] * y[p];
                for (int i = 0; i < 36; i++) for (int j = 0; j < 36; j++) quadratic += w[o * 36 + i] * h[i * 36 + j] * w[o * 36 + j];
                assertEquals(energy / l.rows, quadratic, 1e-5 * energy / l.rows);
            }
        }
    }

    @Test
    void anotherModelOrScheduleIsRefusedInOneLine() throws IOException {
        Path other = dir.resolve("other");
        RandomCheckpoint.writeFolder(other, ModelConfigs.builtIn("tiny"), DType.F32, 8);
        try (Checkpoint cp = Checkpoint.open(other, null); Calibration c = Calibration.open(file)) {
            String id = ModelIdentity.of(cp);
            String msg = assertThrows(IllegalArgumentException.class, () -> c.check(id, "euler", 3)).getMessage();
            assertTrue(msg.contains("another model"), msg);
            String mine = c.identity;
            msg = assertThrows(IllegalArgumentException.class, () -> c.check(mine, "ddim", 3)).getMessage();
            assertTrue(msg.contains("taken with euler, 3 steps") && msg.contains("ddim"), msg);
            assertEquals(1, msg.lines().count());
            c.check(mine, "euler", 3);
        }
    }

    static final List<DType> FORMATS = List.of(DType.Q4_32, DType.Q8, DType.F16);

    @Test
    void eachSensitivityIsTheOutputErrorOfThatLayerAloneInThatFormat() throws IOException {
        Path table = dir.resolve("sens-a.tsv");
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            var s = new Sensitivity.Settings(FORMATS, Quantizer.Clip.MSE, Rounding.NEAREST, Sensitivity.Measure.ALL, 5);
            Sensitivity.Table t = Sensitivity.measure(cp, c, s, table, null);
            String layer = "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight";
            for (Sensitivity.Entry e : t.byTensor().get(layer)) {
                FormatPlan plan = new FormatPlan(DType.F32, List.of(FormatPlan.rule("unet/" + layer, e.format().formatName())), false);
                Checkpoint one = QuantizePass.apply(cp, plan, Quantizer.Clip.MSE, null);
                UNet2DConditionModel unet = new UNet2DConditionModel(one.unet.config(), one.unet.weights());
                UNet2DConditionModel original = new UNet2DConditionModel(cp.unet.config(), cp.unet.weights());
                float[] y = Sensitivity.predict(unet, c.keptLatents(), c.keptTimesteps(), c.keptContext(), c.keptContextTokens(), 12);
                float[] y0 = Sensitivity.predict(original, c.keptLatents(), c.keptTimesteps(), c.keptContext(), c.keptContextTokens(), 12);
                double mse = 0;
                for (int i = 0; i < y.length; i++) mse += ((double) y[i] - y0[i]) * ((double) y[i] - y0[i]);
                mse /= y.length;
                assertEquals(mse, e.mse(), 1e-6 * mse + 1e-20, e.format().formatName());
            }
            List<Sensitivity.Entry> rows = t.byTensor().get(layer);
            assertTrue(rows.get(0).mse() > rows.get(1).mse() && rows.get(1).mse() > rows.get(2).mse(), "q4 > q8 > f16: " + rows);
            assertFalse(t.byTensor().containsKey("conv_in.weight"), "kept by default: not planned");
            assertFalse(t.byTensor().containsKey("time_embedding.linear_1.weight"));

            // the coarsest-format measurement: that format's figure is the same, the others are scaled
            var coarse = new Sensitivity.Settings(FORMATS, Quantizer.Clip.MSE, Rounding.NEAREST, Sensitivity.Measure.COARSEST, 5);
            Sensitivity.Table tc = Sensitivity.measure(cp, c, coarse, dir.resolve("sens-c.tsv"), null);
            assertEquals(rows.get(0).mse(), tc.byTensor().get(layer).get(0).mse());
            assertFalse(tc.byTensor().get(layer).get(1).measured());
            double ratio = tc.byTensor().get(layer).get(1).mse() / rows.get(1).mse();
            assertTrue(ratio > 0.2 && ratio < 5, "scaled q8 estimate within 5x of the measured one: " + ratio);
        }
    }

    @Test
    void aKilledSensitivityRunResumesToTheSameTable() throws IOException {
        Path table = dir.resolve("sens-r.tsv");
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            var s = new Sensitivity.Settings(FORMATS, Quantizer.Clip.ABSMAX, Rounding.NEAREST, Sensitivity.Measure.ALL, 12);
            Sensitivity.measure(cp, c, s, table, null);
            String whole = Files.readString(table);
            // what a run killed after a few layers leaves: the header and the first layers' rows
            List<String> lines = whole.lines().toList();
            int keep = 0;
            for (int i = 0; i < lines.size() && keep < 12; i++) if (!lines.get(i).startsWith("#") && !lines.get(i).startsWith("layer\t")) keep++;
            int headerLines = (int) lines.stream().takeWhile(l -> l.startsWith("#") || l.startsWith("layer\t")).count();
            Files.writeString(dir.resolve("sens-r.tsv.partial"), String.join("\n", lines.subList(0, headerLines + 12)) + "\n", StandardCharsets.UTF_8);
            Files.delete(table);
            Sensitivity.measure(cp, c, s, table, null);
            assertEquals(whole, Files.readString(table));
            assertFalse(Files.exists(dir.resolve("sens-r.tsv.partial")));
        }
    }

    /** Killed twice (after two batches, then after one more), the run continues each time and writes the same bytes. */
    @Test
    void aKilledCalibrationRunResumesToTheSameFile() throws IOException {
        List<String> prompts = List.of("a red fox", "a lighthouse at dusk", "a blue car", "a bowl of soup");
        // batch 1: a checkpoint after every prompt; three prompts' calls kept, across the kills
        var settings = new Calibration.Settings("euler", 3, 7.5f, 1000, 64, 64, 11, 1, 128, 3, 3, "test");
        Path whole = dir.resolve("resume-a.safetensors"), resumed = dir.resolve("resume-b.safetensors");
        Path state = dir.resolve("resume-b.safetensors.partial");
        try (Checkpoint cp = Checkpoint.open(model, null)) {
            assertTrue(Calibration.collect(cp, settings, prompts, whole, null, null, 0, Integer.MAX_VALUE));
            assertFalse(Calibration.collect(cp, settings, prompts, resumed, state, null, 0, 2));
            assertTrue(Files.isRegularFile(state) && !Files.exists(resumed), "a killed run leaves its checkpoint, no output");
            assertFalse(Calibration.collect(cp, settings, prompts, resumed, state, null, 0, 1));
            // two batches are left: a run that started over would stop here again
            assertTrue(Calibration.collect(cp, settings, prompts, resumed, state, null, 0, 2), "resumed after the third prompt");
        }
        assertArrayEquals(Files.readAllBytes(whole), Files.readAllBytes(resumed));
        assertFalse(Files.exists(state), "the checkpoint is removed with the output written");
    }

    @Test
    void gptqLowersEveryLayersOutputError() {
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            int better = 0, layers = 0;
            for (Calibration.Layer l : c.layers().values()) {
                var t = cp.unet.tensors().get(l.path + ".weight");
                if (!Sensitivity.plannable(t.name(), t.shape()) || l.k % 32 != 0) continue;
                Weight w = t.get();
                float[] v = w.toFloats();
                double nearest = LayerError.of(v, Rounding.NEAREST.apply(w, DType.Q4_32, Quantizer.Clip.ABSMAX, l).toFloats(), l);
                double gptq = LayerError.of(v, Rounding.GPTQ.apply(w, DType.Q4_32, Quantizer.Clip.ABSMAX, l).toFloats(), l);
                layers++;
                if (gptq < nearest) better++;
            }
            assertTrue(layers > 20 && better == layers, better + " of " + layers + " layers");
        }
    }

    @Test
    void lowRankPlusFourBitBeatsFourBitOnTheLayerOutputs() {
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            String layer = "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj";
            Weight w = cp.unet.tensors().get(layer + ".weight").get();
            LowRankQuant.Result r = LowRankQuant.apply(w, DType.Q4_32, Quantizer.Clip.ABSMAX, Rounding.NEAREST, c.layer(layer), 4, 4);
            assertTrue(r.error() < r.plainError(), r.error() + " vs " + r.plainError());
            assertEquals(4 * 32, r.down().length);
            assertEquals(256 * 4, r.up().length);
            for (float f : r.up()) assertEquals(f, Float.float16ToFloat(Float.floatToFloat16(f)), "the branch is stored in f16");
        }
    }

    /** The stored form runs as the layer: x·(Q(R) + up·down)ᵀ + b, through the default layer policy. */
    @Test
    void aStoredLowRankLayerRunsWithItsBranch() {
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            String layer = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
            Weight w = cp.unet.tensors().get(layer + ".weight").get();
            LowRankQuant.Result r = LowRankQuant.apply(w, DType.Q4_32, Quantizer.Clip.ABSMAX, Rounding.GPTQ, c.layer(layer), 3, 2);
            Weights weights = new Weights("t", Map.of("q.weight", r.residual(), "q.lowrank_down.weight", Weight.ofFloats("d", r.down(), 3, 32),
                    "q.lowrank_up.weight", Weight.ofFloats("u", r.up(), 32, 3)));
            var linear = dev.edgediffuse.nn.Linear.of(weights, "q", 32, 32, false);
            assertInstanceOf(dev.edgediffuse.nn.LowRankLinear.class, linear);
            float[] x = new float[4 * 32];
            Random rng = new Random(2);
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
            float[] y = linear.forward(x, 4), q = r.residual().toFloats(), branch = LowRankQuant.product(r.up(), r.down(), 32, 3, 32);
            for (int row = 0; row < 4; row++) {
                for (int o = 0; o < 32; o++) {
                    double e = 0;
                    for (int k = 0; k < 32; k++) e += x[row * 32 + k] * ((double) q[o * 32 + k] + branch[o * 32 + k]);
                    assertEquals(e, y[row * 32 + o], 1e-4);
                }
            }
        }
    }

    @Test
    void activationRangesCoverWhatTheLayersSaw() {
        try (Checkpoint cp = Checkpoint.open(model, null); Calibration c = Calibration.open(file)) {
            Checkpoint q = QuantizePass.apply(cp, new FormatPlan(DType.Q8, List.of(), true), Quantizer.Clip.ABSMAX, null);
            Map<String, ActivationRanges.Range> ranges = ActivationRanges.of(c, q.unet);
            assertFalse(ranges.containsKey("conv_in"), "kept in 16 bits: float inputs");
            ActivationRanges.Range r = ranges.get("conv_out") == null ? ranges.get("up_blocks.1.resnets.0.conv1") : null;
            assertNotNull(r);
            assertTrue(r.min() <= 0 && r.max() >= 0);
            float[] abs = c.layer("up_blocks.1.resnets.0.conv1").absMax();
            float max = 0;
            for (float a : abs) max = Math.max(max, a);
            assertEquals(max, Math.max(-r.min(), r.max()));
            Component unet = q.unet;
            assertTrue(unet.tensors().get("up_blocks.1.resnets.0.conv1.weight").dtype().quantized());
        }
    }
}
