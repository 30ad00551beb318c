package dev.edgediffuse.cli;

import dev.edgediffuse.format.QuantizedTensors;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static dev.edgediffuse.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * edgediffuse convert end to end on tiny random checkpoints: folder → folder and file → file for every format, the
 * converted models generating latents close to the f32 model's, mixed precision per layer, and bad input.
 */
class ConvertCommandTest {
    @TempDir
    static Path dir;
    static Path folder, single, configs;
    static float[] reference;

    /**
     * Allowed ‖Δlatents‖∞ / ‖latents‖∞ after 4 Euler steps against the f32 model. Measured on this model: f16 1.6e-4,
     * bf16 1.4e-3, q8 2.3e-3, q8_32 3.0e-3, q4_32 5.2e-2, q4_32z 5.1e-2, q4_64 2.7e-2 (fewer layers fit groups of 64).
     */
    static final Map<String, Double> TOLERANCE = Map.of("f16", 1e-3, "bf16", 1e-2, "q8", 1e-2, "q8_32", 1e-2,
            "q4_32", 0.1, "q4_32z", 0.1, "q4_64", 0.1);

    static GenerateRequest request() {
        return GenerateRequest.of("a red fox, photo").withNegativePrompt("blurry").withSize(64, 64).withSteps(4)
                .withScheduler("euler").withSeed(5);
    }

    static float[] latents(Path model, Path configDir) {
        try (Pipeline p = Pipeline.load(model, new Pipeline.Options(configDir, null))) {
            return p.generate(request(), null).latentsNchw();
        }
    }

    @BeforeAll
    static void writeCheckpoints() throws IOException {
        TinyCheckpoints tiny = TinyCheckpoints.write(dir);
        folder = tiny.folder();
        single = tiny.single();
        configs = tiny.configs();
        reference = latents(folder, null);
    }

    static Path convert(Path in, String out, String... extra) {
        Path o = dir.resolve(out);
        String[] args = new String[6 + extra.length];
        System.arraycopy(new String[]{"convert", "--model", in.toString(), "--out", o.toString(), "--quiet"}, 0, args, 0, 6);
        System.arraycopy(extra, 0, args, 6, extra.length);
        GenerateCommandTest.Run r = run(args);
        assertEquals(0, r.code(), r.err());
        return o;
    }

    static Map<String, Weight> tensors(SafeTensors st) {
        return st.tensors();
    }

    @Test
    void everyFormatConvertsAFolderThatGeneratesCloseToF32() throws IOException {
        for (String format : new String[]{"f16", "bf16", "q8", "q8_32", "q4_32", "q4_32z", "q4_64"}) {
            Path out = convert(folder, "tiny-" + format, "--weights", format);
            double rel = Goldens.relError(reference, latents(out, null));
            System.out.printf("%s: latents relative error vs f32 %.2e%n", format, rel);
            assertTrue(rel <= TOLERANCE.get(format), format + ": latents relative error " + rel + " > " + TOLERANCE.get(format));
            assertArrayEquals(Files.readAllBytes(folder.resolve("unet/config.json")), Files.readAllBytes(out.resolve("unet/config.json")));
            assertArrayEquals(Files.readAllBytes(folder.resolve("model_index.json")), Files.readAllBytes(out.resolve("model_index.json")));
            try (SafeTensors unet = SafeTensors.open(out.resolve("unet/diffusion_pytorch_model.safetensors"))) {
                DType t = DType.fromFormatName(format);
                String attention = "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight"; // K = 64
                assertEquals(t, unet.tensors().get(attention).dtype(), format + ": attention weights take the target format");
                DType conv = unet.tensors().get("down_blocks.0.resnets.0.conv1.weight").dtype();
                // K = 32·9 fits groups of 32, not of 64
                assertEquals(t == DType.Q4_64 ? DType.F16 : t, conv, format + ": conv weights");
                assertEquals(t.quantized() ? DType.F16 : t, unet.tensors().get("conv_in.weight").dtype(), "conv_in is kept");
                assertEquals(t.quantized() ? DType.F16 : t, unet.tensors().get("down_blocks.0.resnets.0.norm1.weight").dtype());
                assertTrue(unet.metadata().get(QuantizedTensors.WEIGHTS_KEY).contains("\"" + format + "\""));
            }
        }
    }

    @Test
    void singleFileConvertsToASingleFileEqualToTheConvertedFolder() {
        Path file = convert(single, "tiny-q8.safetensors", "--weights", "q8");
        Path converted = convert(folder, "tiny-q8-again", "--weights", "q8");
        assertTrue(Files.isRegularFile(file));
        // the default keep list covers original and diffusers names alike, so both layouts quantize the same tensors
        assertArrayEquals(latents(converted, null), latents(file, configs));
    }

    @Test
    void mixedPrecisionPerLayer() throws IOException {
        Path map = dir.resolve("layers.json");
        Files.writeString(map, "{\"vae/decoder.*\": \"q4_32z\"}");
        Path out = convert(folder, "tiny-mixed", "--weights", "q8", "--layer", "unet/*attn1*=q4_32", "--keep", "unet/*attn2.to_k*",
                "--layer-map", map.toString());
        try (SafeTensors unet = SafeTensors.open(out.resolve("unet/diffusion_pytorch_model.safetensors"));
             SafeTensors vae = SafeTensors.open(out.resolve("vae/diffusion_pytorch_model.safetensors"))) {
            String block = "down_blocks.0.attentions.0.transformer_blocks.0.";
            assertEquals(DType.Q4_32, unet.tensors().get(block + "attn1.to_q.weight").dtype());
            assertEquals(DType.Q8, unet.tensors().get(block + "attn2.to_q.weight").dtype());
            assertEquals(DType.F16, unet.tensors().get(block + "attn2.to_k.weight").dtype());
            assertEquals(DType.Q4_32Z, vae.tensors().get("decoder.mid_block.resnets.0.conv1.weight").dtype());
            assertEquals(DType.Q8, vae.tensors().get("encoder.mid_block.resnets.0.conv1.weight").dtype());
        }
        double rel = Goldens.relError(reference, latents(out, null));
        assertTrue(rel <= TOLERANCE.get("q4_32"), "mixed q8/q4: latents relative error " + rel);
    }

    @Test
    void mseClippingConverts() {
        Path out = convert(folder, "tiny-q4-mse", "--weights", "q4_32", "--clip", "mse");
        double rel = Goldens.relError(reference, latents(out, null));
        assertTrue(rel <= TOLERANCE.get("q4_32"), "q4_32 with mse clipping: latents relative error " + rel);
    }

    @Test
    void printsASummary() {
        // q4 is short for q4_32
        GenerateCommandTest.Run r = run("convert", "--model", folder.toString(), "--out", dir.resolve("tiny-summary").toString(), "--weights", "q4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("3 weight files") && r.out().contains("q4_32") && r.out().contains("f16")
                && r.out().contains("kept by default (*conv_in.*)") && r.out().contains("K not a multiple of 32"), r.out());
        assertTrue(r.err().contains("unet/diffusion_pytorch_model.safetensors: 208 tensors"), r.err());
    }

    @Test
    void badInputFailsWithOneLine() throws IOException {
        GenerateCommandTest.Run r = run("convert", "--model", folder.toString(), "--out", dir.resolve("x").toString(), "--weights", "q5");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--weights must be one of"), r.err());
        r = run("convert", "--model", folder.toString(), "--out", dir.resolve("x").toString(), "--weights", "q8", "--layer", "*=q3");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown weight format 'q3'"), r.err());
        r = run("convert", "--model", folder.toString(), "--out", configs.toString(), "--weights", "q8");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("already exists"), r.err());
        r = run("convert", "--model", dir.resolve("nope").toString(), "--out", dir.resolve("x").toString(), "--weights", "q8");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("model not found"), r.err());
        assertFalse(Files.exists(dir.resolve("x")), "no output after a failure");

        // a converted file whose metadata names a format this build does not know: generate refuses it, naming it
        Path out = convert(folder, "tiny-corrupt", "--weights", "q8");
        Path unet = out.resolve("unet/diffusion_pytorch_model.safetensors");
        byte[] b = Files.readAllBytes(unet);
        String header = new String(b, 0, Math.min(b.length, 1 << 16), StandardCharsets.ISO_8859_1);
        int at = header.indexOf("{\\\"format\\\":\\\"q8\\\"");
        assertTrue(at > 0, "converted header names q8 weights");
        b[at + "{\\\"format\\\":\\\"q".length()] = '9';
        Files.write(unet, b);
        r = run("generate", "--model", out.toString(), "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64",
                "--out", dir.resolve("corrupt.png").toString(), "--quiet");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(unet.toString()) && r.err().contains("unknown weight format 'q9'"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }
}
