package dev.edgediffuse.distill;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.data.ImageFolder;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.prune.BlockRemoval;
import dev.edgediffuse.prune.WidthPruning;
import dev.edgediffuse.scheduler.NoiseSchedule;
import dev.edgediffuse.testing.TinyTeacher;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import dev.edgediffuse.train.LatentDataset;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Distillation on a random three-stage teacher and a folder of captioned images. */
class DistillTest {
    @TempDir
    static Path dir;
    static Path teacher, images;

    @BeforeAll
    static void write() throws IOException {
        teacher = TinyTeacher.write(dir.resolve("teacher"), 1, 5);
        images = TinyTeacher.captionedImages(dir.resolve("images"), 12);
    }

    static String recipe(Path teacher, Path data, long steps) {
        return """
                {"name": "student", "teacher": "%s", "data": "%s", "seed": 4, "checkpoint_seconds": 0, "dtype": "f16",
                 "student": {"preset": "tiny", "target_macs": 0.6, "extended": true, "prompts": 2, "steps": 2},
                 "loss": {"task": 1, "output": 1, "feature": 1},
                 "distill": {"steps": %d, "batch": 4, "lr": 1e-3, "warmup": 1, "ema": 0.9, "min_snr_gamma": 5}}
                """.formatted(teacher, data, steps);
    }

    @Test
    void aKilledRunResumesAndWritesTheSameFiles() throws IOException {
        Path r = Files.writeString(dir.resolve("r.json"), recipe(teacher, images, 6));
        DistillRecipe recipe = DistillRecipe.read(r);
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        Path straight = dir.resolve("straight"), resumed = dir.resolve("resumed");
        assertTrue(new Distillation(recipe, straight, dir.resolve("straight.work"), null, null, quiet).run());
        Distillation killed = new Distillation(recipe, resumed, dir.resolve("resumed.work"), null, null, quiet);
        killed.stopAfter(3);
        assertFalse(killed.run());
        assertFalse(Files.exists(resumed));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        assertTrue(new Distillation(recipe, resumed, dir.resolve("resumed.work"), null, null, new PrintStream(log)).run());
        String text = log.toString();
        assertTrue(text.contains("pruned on an earlier run") && text.contains("resuming at step 3 of 6"), text);
        for (String f : List.of("unet/diffusion_pytorch_model.safetensors", "unet/config.json", "text_encoder/model.safetensors")) {
            assertArrayEquals(Files.readAllBytes(straight.resolve(f)), Files.readAllBytes(resumed.resolve(f)), f);
        }
        assertTrue(Files.readString(straight.resolve("recipe.json")).contains("\"significance\""));
        assertTrue(Files.readAllLines(dir.resolve("straight.work/distill.log.jsonl")).getFirst().contains("\"feature_kd\""));
        // the student loads as a model of its own, in the teacher's latent space
        try (Checkpoint s = Checkpoint.open(straight, null); Checkpoint t = Checkpoint.open(teacher, null)) {
            assertTrue(s.unet.config().has("pruned_widths"));
            assertEquals(Files.readString(teacher.resolve("vae/config.json")).strip(), Files.readString(straight.resolve("vae/config.json")).strip());
            assertEquals(t.samplingDefaults, s.samplingDefaults);
        }
    }

    /**
     * The objective's gradient (task + output KD + feature KD through the taps) against central differences of its
     * loss (without Min-SNR weights, which the returned task loss leaves out so logs compare).
     */
    @Test
    void theGradientOfTheDistillationLossMatchesFiniteDifferences() {
        double h = 3e-3;
        try (Checkpoint t = Checkpoint.open(teacher, null)) {
            Checkpoint pruned = BlockRemoval.apply(t, BlockRemoval.Preset.TINY);
            var c = WidthPruning.candidates(pruned.unet, true).getFirst();
            pruned = WidthPruning.apply(pruned, Map.of(c, c.full() / 2));
            Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(pruned.unet.config()), new Rng(0));
            for (String n : p.names()) System.arraycopy(pruned.unet.tensors().get(n).get().toFloats(), 0, p.get(n), 0, p.get(n).length);
            UNet2DConditionModel student = new UNet2DConditionModel(pruned.unet.config(), p.weights("student"));
            AutoencoderKL vae = new AutoencoderKL(t.vae.config(), t.vae.weights());
            ImageFolder folder = ImageFolder.open(images);
            LatentDataset latents = LatentDataset.encode(vae, 8, (s, n) -> folder.images(s, n, 32), 1f, null)
                    .toUnet(LatentScaling.ofVae(t.vae.config(), 4));
            DistillObjective o = new DistillObjective(student, new UNet2DConditionModel(t.unet.config(), t.unet.weights()),
                    new ClipTextModel(t.text.config(), t.text.weights()), ClipTokenizer.builtIn(), latents, (i, rng) -> folder.caption(i),
                    FeaturePairs.of(pruned.unet.config(), t.unet.config()), NoiseSchedule.of(t.schedulerConfig).alphasCumprod(), 2, 0.0,
                    0, new DistillObjective.Weights(1, 0.5, 2), 3);
            String[] names = {"up_blocks.0.resnets.1.conv2.weight", "down_blocks.0.resnets.0.conv1.weight", "conv_in.weight"};
            float[][] grads = new float[names.length][];
            try (Tape tape = Tape.begin(p.arrays())) {
                o.step(tape, 1);
                for (int k = 0; k < names.length; k++) grads[k] = tape.grad(p.get(names[k])).clone();
            }
            assertTrue(o.lastMetrics().get("feature_kd") > 0 && o.lastMetrics().get("output_kd") > 0);
            for (int k = 0; k < names.length; k++) {
                float[] w = p.get(names[k]);
                for (int i : new int[]{0, 7, w.length / 2}) {
                    float keep = w[i];
                    w[i] = (float) (keep + h);
                    double up = loss(o, p);
                    w[i] = (float) (keep - h);
                    double down = loss(o, p);
                    w[i] = keep;
                    double fd = (up - down) / (2 * h);
                    assertEquals(fd, grads[k][i], 1e-2 * Math.abs(fd) + 2e-5, names[k] + "[" + i + "]");
                }
            }
        }
    }

    private static double loss(DistillObjective o, Parameters p) {
        try (Tape tape = Tape.begin(p.arrays())) {
            return o.step(tape, 1);
        }
    }

    /** A tiny decoder distilled from the teacher's VAE: resumable, and a --vae that decodes (encoding stays the teacher's). */
    @Test
    void aTinyDecoderDistillsAndDecodesTheTeachersLatents() throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed");
        String recipe = Files.readString(Path.of("recipes/mini-tiny-vae.json")).replace("\"teacher\": \"mini\"", "\"teacher\": \"" + teacher + "\"")
                .replace("\"checkpoint_seconds\": 120", "\"checkpoint_seconds\": 0, \"images\": 64")
                .replace("\"steps\": 3000", "\"steps\": 2").replace("\"steps\": 1500", "\"steps\": 2");
        Path r = Files.writeString(dir.resolve("vae.json"), recipe), out = dir.resolve("tiny-vae");
        var run = dev.edgediffuse.cli.MainRunner.run("distill-vae", "--recipe", r.toString(), "--out", out.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("decoder_adversarial 2/2"), run.out());
        assertTrue(Files.isRegularFile(out.resolve("config.json")) && Files.isRegularFile(out.resolve("diffusion_pytorch_model.safetensors")));
        var again = dev.edgediffuse.cli.MainRunner.run("distill-vae", "--recipe", r.toString(), "--out", out.toString());
        assertTrue(again.out().contains("decoder: resuming at step 2 of 2"), again.out());
        var gen = dev.edgediffuse.cli.MainRunner.run("generate", "--model", teacher.toString(), "--vae", out.toString(), "--prompt", "a dress",
                "--steps", "2", "--out", dir.resolve("tiny-vae.png").toString(), "--quiet");
        assertEquals(0, gen.code(), gen.err());
        try (var d = dev.edgediffuse.pipeline.Denoiser.load(teacher, new dev.edgediffuse.pipeline.Pipeline.Options(null, out))) {
            assertEquals(32, d.reconstruct(folderImages()).width(), "the round trip encodes with the teacher's VAE");
        }
    }

    private static dev.edgediffuse.tensor.FeatureMap folderImages() {
        return ImageFolder.open(images).images(0, 2, 32);
    }

    @Test
    void badInputIsAOneLineError() throws IOException {
        Path noCaptions = TinyTeacher.captionedImages(dir.resolve("no-captions"), 3);
        Files.delete(noCaptions.resolve("img1.txt"));
        String e = assertThrows(ModelFormatException.class, () -> ImageFolder.open(noCaptions)).getMessage();
        assertTrue(e.contains("1 of 3 images have no caption file") && e.contains("img1.png has no img1.txt"), e);
        String recipe = recipe(teacher, images, 2);
        for (String[] bad : new String[][]{
                {"\"preset\": \"tiny\"", "\"preset\": \"huge\"", "preset must be base, small or tiny"},
                {"\"target_macs\": 0.6", "\"target_macs\": 0.6, \"keep\": [0.5, 1.0]", "keep ratio 1.0 is outside (0, 1)"},
                {"\"task\": 1", "\"taks\": 1", "unknown key \"taks\""},
                {"\"lr\": 1e-3", "\"lr\": 1e-3, \"lr_decay\": 2", "unknown key \"lr_decay\""}}) {
            assertTrue(recipe.contains(bad[0]), bad[0]);
            Path r = Files.writeString(dir.resolve("bad.json"), recipe.replace(bad[0], bad[1]));
            String m = assertThrows(RuntimeException.class, () -> DistillRecipe.read(r)).getMessage();
            assertTrue(m.contains(bad[2]) && !m.contains("\n"), m);
        }
    }
}
