package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.testing.Goldens;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.edgediffuse.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * calibrate → sensitivity → convert --target-bits / --rounding gptq / --lowrank, and --activations int8, end to end
 * on the tiny random checkpoint; every kind of bad input as one line.
 */
class QuantizeCommandsTest {
    @TempDir
    static Path dir;
    static Path model, quant;
    static final String[] SAMPLING = {"--scheduler", "euler", "--steps", "3"};

    @BeforeAll
    static void calibrateAndMeasure() throws IOException {
        model = TinyCheckpoints.write(dir).folder();
        quant = dir.resolve("tiny.quant");
        GenerateCommandTest.Run r = run(args("calibrate", "--model", model.toString(), "--prompts", "general", "--count", "2", "--width", "64",
                "--height", "64", "--keep-steps", "2", "--keep-prompts", "2", "--hessian-block", "128", "--quiet"));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(quant.resolve("calibration.safetensors")), "beside the model by default");
        r = run(args("sensitivity", "--model", model.toString(), "--formats", "q4_32,q4_64z,q8,f16", "--quiet"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("most sensitive layers"), r.out());
    }

    static String[] args(String... a) {
        List<String> l = new ArrayList<>(List.of(a));
        if (!a[0].equals("convert") || l.contains("--target-bits") || l.contains("--target-mb") || l.contains("--rounding") || l.contains("--calibration")) {
            l.addAll(List.of(SAMPLING));
        }
        return l.toArray(String[]::new);
    }

    static float[] latents(Path m, String... extra) {
        Path png = dir.resolve("x.png"), npy = dir.resolve("x.npy");
        List<String> a = new ArrayList<>(List.of(GenerateCommandTest.gen(m, png, "--save-latents", npy.toString())));
        a.addAll(List.of(extra));
        GenerateCommandTest.Run r = run(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return dev.edgediffuse.format.Npy.read(npy).data();
    }

    @Test
    void anAutomaticMixMeetsItsBudgetAndRuns() throws IOException {
        Path out = dir.resolve("auto6");
        GenerateCommandTest.Run r = run(args("convert", "--model", model.toString(), "--target-bits", "6", "--out", out.toString(), "--quiet"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("plan for 6.000 bits per weight"), r.out());
        String plan = Files.readString(out.resolve("quant_plan.json"));
        double bits = Double.parseDouble(plan.replaceAll("(?s).*\"average_bits\":([0-9.E-]+).*", "$1"));
        assertTrue(bits <= 6.0 && bits > 5.0, "average bits " + bits);
        assertTrue(Files.isRegularFile(out.resolve("unet/activation_ranges.json")));
        double rel = Goldens.relError(latents(model), latents(out));
        assertTrue(rel < 0.1, "latents relative error " + rel);
        // --layer rules override the plan
        Path ruled = dir.resolve("auto6-ruled");
        r = run(args("convert", "--model", model.toString(), "--target-bits", "6", "--layer", "unet/*ff.net.2*=q8", "--out", ruled.toString(), "--quiet"));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(ruled.resolve("quant_plan.json")).contains("\"down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight\":{\"format\":\"q8\",\"params\":4096,\"why\":\"rule\"}"));
        // --target-mb: the 6-bit mix's UNet weights, less a tenth, is a budget the whole UNet's tensors then fit
        double mb = 0.9 * unetTensorBytes(out) / 1048576.0;
        Path sized = dir.resolve("auto-mb");
        r = run(args("convert", "--model", model.toString(), "--target-mb", String.valueOf(mb), "--out", sized.toString(), "--quiet"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("MiB UNet"), r.out());
        long bytes = unetTensorBytes(sized);
        assertTrue(bytes <= mb * 1048576.0 && bytes > 0.8 * mb * 1048576.0, bytes + " bytes for a " + mb + " MiB budget");
    }

    /** The UNet's weight bytes as stored (codes, scales and zero points; not the file's header). */
    static long unetTensorBytes(Path folder) {
        try (SafeTensors st = SafeTensors.open(folder.resolve("unet/diffusion_pytorch_model.safetensors"))) {
            long n = 0;
            for (var w : st.tensors().values()) n += w.data().byteSize();
            return n;
        }
    }

    @Test
    void gptqAndLowRankAndInt8ActivationsRun() throws IOException {
        Path gptq = dir.resolve("gptq");
        GenerateCommandTest.Run r = run(args("convert", "--model", model.toString(), "--weights", "q4_32", "--rounding", "gptq", "--out", gptq.toString(), "--quiet"));
        assertEquals(0, r.code(), r.err());
        Path lr = dir.resolve("lowrank");
        r = run(args("convert", "--model", model.toString(), "--weights", "q4_32", "--lowrank", "4", "--calibration", quant.toString(),
                "--out", lr.toString(), "--quiet"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("low rank: 4 layers") || r.out().contains("low rank: "), r.out());
        try (SafeTensors st = SafeTensors.open(lr.resolve("unet/diffusion_pytorch_model.safetensors"))) {
            String l = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
            assertEquals(DType.Q4_32, st.tensors().get(l + ".weight").dtype());
            assertEquals(DType.F16, st.tensors().get(l + ".lowrank_down.weight").dtype());
            assertArrayEquals(new int[]{4, 32}, st.tensors().get(l + ".lowrank_down.weight").shape());
            assertArrayEquals(new int[]{32, 4}, st.tensors().get(l + ".lowrank_up.weight").shape());
            assertFalse(st.tensors().containsKey("down_blocks.0.attentions.0.proj_in.lowrank_down.weight"), "proj_in keeps no branch");
        }
        float[] f32 = latents(model), low = latents(lr), plain = latents(convertPlain());
        double relLow = Goldens.relError(f32, low), relPlain = Goldens.relError(f32, plain);
        assertTrue(relLow < 0.1 && relPlain < 0.1, relLow + " " + relPlain);
        float[] w8a8 = latents(gptq, "--activations", "int8");
        double relA8 = Goldens.relError(latents(gptq), w8a8);
        System.out.printf("tiny latents vs f32: q4_32 %.3g, low rank + q4_32 %.3g; W4A8 vs W4A16 %.3g%n", relPlain, relLow, relA8);
        // per-tensor 8-bit inputs move a 3-step random-weight model's latents by ~26% (measured; prompts outside the
        // calibration's stretch some ranges): checked here for running and staying bounded, judged on the Mini in docs
        assertTrue(relA8 < 0.5, "W4A8 vs W4A16 " + relA8);
        assertFalse(java.util.Arrays.equals(latents(gptq), w8a8), "activations were quantized");
    }

    static Path convertPlain() {
        Path p = dir.resolve("plain-q4");
        if (!Files.exists(p)) assertEquals(0, run("convert", "--model", model.toString(), "--weights", "q4_32", "--out", p.toString(), "--quiet").code());
        return p;
    }

    static void oneLineError(GenerateCommandTest.Run r, String expected) {
        assertNotEquals(0, r.code(), r.out());
        assertTrue(r.err().contains(expected), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void badInputIsOneLine() throws IOException {
        oneLineError(run(args("convert", "--model", model.toString(), "--target-bits", "3", "--out", dir.resolve("e1").toString())),
                "below what the smallest formats allow");
        oneLineError(run(args("convert", "--model", model.toString(), "--weights", "q4_32", "--rounding", "best", "--out", dir.resolve("e2").toString())),
                "--rounding must be nearest or gptq");
        oneLineError(run("convert", "--model", model.toString(), "--weights", "q4_32", "--layer", "unet/no_such_layer*=q8", "--out", dir.resolve("e3").toString(), "--quiet"),
                "layer rule 'unet/no_such_layer*=q8' matches no tensor");
        assertFalse(Files.exists(dir.resolve("e3")), "nothing written");
        oneLineError(run("convert", "--model", model.toString(), "--weights", "q4_32", "--rounding", "gptq", "--scheduler", "ddim", "--steps", "3",
                "--out", dir.resolve("e4").toString()), "taken with euler, 3 steps");
        Path other = dir.resolve("other");
        RandomCheckpoint.writeFolder(other, ModelConfigs.builtIn("tiny"), DType.F32, 9);
        oneLineError(run(args("convert", "--model", other.toString(), "--weights", "q4_32", "--rounding", "gptq", "--calibration", quant.toString(),
                "--out", dir.resolve("e5").toString())), "another model");
        oneLineError(run(GenerateCommandTest.gen(model, dir.resolve("e6.png"), "--activations", "int8")), "no unet/activation_ranges.json");
        oneLineError(run(GenerateCommandTest.gen(model, dir.resolve("e7.png"), "--activations", "int4")), "--activations must be float or int8");
        oneLineError(run(args("sensitivity", "--model", model.toString(), "--formats", "q3")), "unknown or unplannable format 'q3'");
        oneLineError(run(args("convert", "--model", model.toString(), "--out", dir.resolve("e8").toString())), "--weights is required");
        oneLineError(run(args("convert", "--model", model.toString(), "--weights", "q4_32", "--lowrank", "4", "--lowrank-layers", "unet/*nothing*",
                "--calibration", quant.toString(), "--out", dir.resolve("e10").toString(), "--quiet")), "--lowrank-layers unet/*nothing* names no quantized linear");
        oneLineError(run(args("calibrate", "--model", model.toString(), "--prompts", "nonsense", "--calibration", dir.resolve("e9").toString())),
                "--prompts must be mini, general or a prompt file");
    }
}
