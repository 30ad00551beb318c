package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Folders;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The CLI end to end on tiny random-weight checkpoints in both real layouts, and its handling of bad input. */
class GenerateCommandTest {
    @TempDir
    static Path dir;
    static Path folder, single, configs;

    @BeforeAll
    static void writeCheckpoints() throws IOException {
        TinyCheckpoints tiny = TinyCheckpoints.write(dir);
        folder = tiny.folder();
        single = tiny.single();
        configs = tiny.configs();
    }

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static String[] gen(Path model, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", "a red fox, photo",
                "--steps", "3", "--width", "64", "--height", "64", "--seed", "5", "--out", out.toString(), "--quiet"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void generatesAPngWithItsParameters() throws IOException {
        Path png = dir.resolve("a.png");
        Run r = run(gen(folder, png, "--negative-prompt", "blurry", "--scheduler", "dpmpp_2m"));
        assertEquals(0, r.code, r.err);
        byte[] bytes = Files.readAllBytes(png);
        assertEquals((byte) 0x89, bytes[0]);
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("parameters\0a red fox, photo\nNegative prompt: blurry\nSteps: 3, Sampler: dpmpp_2m"), text.substring(0, 200));
        assertTrue(r.err.contains("UNet 3 steps") && r.err.contains("peak RSS"), r.err);
        java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(png.toFile());
        assertEquals(64, img.getWidth());
        assertEquals(64, img.getHeight());
    }

    @Test
    void settingsLeftOutComeFromTheModelsSamplingDefaults(@TempDir Path tmp) throws IOException {
        Path model = TinyCheckpoints.write(tmp).folder();
        Files.writeString(model.resolve("sampling_defaults.json"), "{\"steps\": 2, \"scheduler\": \"ddim\", \"cfg_scale\": 2.5, \"cfg_max_timestep\": 400}");
        Path a = tmp.resolve("a.png"), b = tmp.resolve("b.png");
        Run r = run("generate", "--model", model.toString(), "--prompt", "a fox", "--width", "64", "--height", "64", "--out", a.toString(), "--quiet");
        assertEquals(0, r.code, r.err);
        String text = new String(Files.readAllBytes(a), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("Steps: 2, Sampler: ddim, CFG scale: 2.5, CFG max timestep: 400, Seed: 0"), text.substring(0, 200));
        Run o = run("generate", "--model", model.toString(), "--prompt", "a fox", "--width", "64", "--height", "64", "--out", b.toString(),
                "--quiet", "--cfg", "5", "--cfg-max-timestep", "1000", "--scheduler", "euler");
        assertEquals(0, o.code, o.err);
        text = new String(Files.readAllBytes(b), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("Steps: 2, Sampler: euler, CFG scale: 5.0, Seed: 0"), "options win over the defaults: " + text.substring(0, 200));

        Files.writeString(model.resolve("sampling_defaults.json"), "{\"scheduler\": \"plms\"}");
        Run bad = run("generate", "--model", model.toString(), "--prompt", "a fox", "--out", tmp.resolve("c.png").toString(), "--quiet");
        assertNotEquals(0, bad.code);
        assertTrue(bad.err.contains("sampling_defaults.json") && bad.err.contains("scheduler") && !bad.err.contains("\tat "), bad.err);
        assertFalse(Files.exists(tmp.resolve("c.png")));
    }

    @Test
    void sameSeedSameImageAndSingleFileEqualsFolder() throws IOException {
        Path a = dir.resolve("s1.png"), b = dir.resolve("s2.png"), c = dir.resolve("s3.png");
        assertEquals(0, run(gen(folder, a)).code);
        assertEquals(0, run(gen(folder, b)).code);
        Run s = run(gen(single, c, "--config", configs.toString()));
        assertEquals(0, s.code, s.err);
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "reproducible for a seed");
        assertArrayEquals(pixels(a), pixels(c), "single-file layout loads the same weights as the folder");
    }

    private static int[] pixels(Path png) throws IOException {
        var img = javax.imageio.ImageIO.read(png.toFile());
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    @Test
    void initLatentsReplaceTheSeedAndFinalLatentsAreSaved() throws IOException {
        float[] noise = new float[4 * 8 * 8];
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < noise.length; i++) noise[i] = (float) r.nextGaussian();
        Path init = dir.resolve("init.npy");
        Npy.write(init, noise, 1, 4, 8, 8);
        Path l1 = dir.resolve("l1.npy"), l2 = dir.resolve("l2.npy");
        assertEquals(0, run(gen(folder, dir.resolve("i1.png"), "--init-latents", init.toString(), "--save-latents", l1.toString(), "--seed", "1", "--scheduler", "ddim")).code);
        assertEquals(0, run(gen(folder, dir.resolve("i2.png"), "--init-latents", init.toString(), "--save-latents", l2.toString(), "--seed", "2", "--scheduler", "ddim")).code);
        Npy.Array a = Npy.read(l1), b = Npy.read(l2);
        assertArrayEquals(new int[]{1, 4, 8, 8}, a.shape());
        assertArrayEquals(a.data(), b.data());
    }

    @Test
    void img2imgRunsFromAnInitImage() throws IOException {
        Path src = dir.resolve("src.png");
        assertEquals(0, run(gen(folder, src)).code);
        Path out = dir.resolve("i2i.png");
        Run r = run(gen(folder, out, "--init-image", src.toString(), "--strength", "0.5", "--steps", "4"));
        assertEquals(0, r.code, r.err);
        assertTrue(r.err.contains("UNet 2 steps"), "strength 0.5 of 4 steps runs 2: " + r.err);
        assertTrue(Files.exists(out));
    }

    @Test
    void aReplacementVaeSuchAsTaesdDecodes() throws Exception {
        Path taesd = Path.of(GenerateCommandTest.class.getResource("/goldens/vae/tiny").toURI());
        Path out = dir.resolve("taesd.png");
        Run r = run(gen(folder, out, "--vae", taesd.toString()));
        assertEquals(0, r.code, r.err);
        var img = javax.imageio.ImageIO.read(out.toFile());
        assertEquals(64, img.getWidth());
        Path own = dir.resolve("own-vae.png");
        assertEquals(0, run(gen(folder, own)).code);
        assertFalse(java.util.Arrays.equals(pixels(out), pixels(own)), "decoded by a different VAE");
    }

    // ---- bad input: one line naming the culprit, exit != 0, no PNG ----

    private static void assertFails(String mustMention, String... args) {
        Path out = dir.resolve("never.png");
        List<String> a = new ArrayList<>(List.of(args));
        a.addAll(List.of("--out", out.toString()));
        Run r = run(a.toArray(String[]::new));
        assertNotEquals(0, r.code);
        String msg = r.err.strip();
        assertFalse(msg.contains("\n"), "one line: " + msg);
        assertFalse(msg.contains("\tat "), "no stack trace: " + msg);
        assertTrue(msg.contains(mustMention), "'" + msg + "' should mention " + mustMention);
        assertFalse(Files.exists(out), "no partial PNG");
    }

    private static String[] base(Path model, String... extra) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", "x", "--steps", "2",
                "--width", "64", "--height", "64", "--quiet"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void badOptionsAreNamed() {
        assertFails("--width", base(folder, "--width", "60"));
        assertFails("--height", base(folder, "--height", "0"));
        assertFails("--steps", base(folder, "--steps", "0"));
        assertFails("--steps", base(folder, "--steps", "abc"));
        assertFails("--scheduler", base(folder, "--scheduler", "nope"));
        assertFails("--bogus", base(folder, "--bogus", "1"));
        assertFails("--prompt", "generate", "--model", folder.toString());
    }

    @Test
    void builtInModelsAreAddressedByName() throws IOException {
        Path byName = dir.resolve("mini-by-name.png"), byDefault = dir.resolve("mini-default.png");
        Run named = run("generate", "--model", "mini", "--prompt", "a photo of a bag", "--steps", "2", "--out", byName.toString(), "--quiet");
        assertEquals(0, named.code(), named.err());
        assertTrue(named.out().contains("(32x32)"), "the built-in model's own size: " + named.out());
        String text = new String(Files.readAllBytes(byName), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("Model: " + BuiltInModel.MINI.name()), text.substring(0, 300));
        Run unnamed = run("generate", "--prompt", "a photo of a bag", "--steps", "2", "--out", byDefault.toString(), "--quiet");
        assertEquals(0, unnamed.code(), unnamed.err());
        assertArrayEquals(Files.readAllBytes(byName), Files.readAllBytes(byDefault), "no --model is --model mini");
        assertFails("built-in model: mini", base(Path.of("mini-nonexistent")));
        assertFails("mini-nonexistent: model not found", "convert", "--model", "mini-nonexistent", "--weights", "q8");
    }

    @Test
    void missingModelOrComponentIsNamed() throws IOException {
        assertFails("nowhere", base(dir.resolve("nowhere")));
        Path broken = copyOf(folder, "no-vae");
        deleteTree(broken.resolve("vae"));
        assertFails("vae", base(broken));
    }

    @Test
    void corruptWeightsAreNamed() throws IOException {
        Path truncated = copyOf(folder, "truncated");
        Path unet = truncated.resolve("unet/diffusion_pytorch_model.safetensors");
        byte[] all = Files.readAllBytes(unet);
        Files.write(unet, java.util.Arrays.copyOf(all, all.length / 2));
        assertFails("diffusion_pytorch_model.safetensors", base(truncated));

        Path missing = copyOf(folder, "missing-tensor");
        rewrite(missing.resolve("unet/diffusion_pytorch_model.safetensors"), "conv_in.weight", null);
        assertFails("conv_in.weight", base(missing));

        Path shape = copyOf(folder, "wrong-shape");
        rewrite(shape.resolve("unet/diffusion_pytorch_model.safetensors"), "conv_out.bias", new int[]{3});
        assertFails("conv_out.bias", base(shape));
    }

    /** Rewrites a safetensors file without {@code drop}, or with it reshaped to {@code newShape}. */
    private static void rewrite(Path file, String tensor, int[] newShape) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensors st = SafeTensors.open(file)) {
            for (Map.Entry<String, Weight> e : st.tensors().entrySet()) {
                if (!e.getKey().equals(tensor)) {
                    w.add(e.getKey(), DType.F32, e.getValue().toFloats(), e.getValue().shape());
                } else if (newShape != null) {
                    int n = 1;
                    for (int d : newShape) n *= d;
                    w.add(e.getKey(), DType.F32, new float[n], newShape);
                }
            }
            Path tmp = file.resolveSibling("rewritten.tmp");
            w.write(tmp);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static Path copyOf(Path src, String name) throws IOException {
        return Folders.copy(src, dir.resolve(name));
    }

    private static void deleteTree(Path p) throws IOException {
        try (var paths = Files.walk(p)) {
            for (Path x : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
