package dev.edgediffuse.cli;

import dev.edgediffuse.testing.TinyCheckpoints;
import dev.edgediffuse.testing.TinyTeacher;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.edgediffuse.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** prune and distill from the command line: what they write, and their one-line errors. */
class PruneCommandTest {
    @TempDir
    static Path dir;
    static Path teacher, twoStages;

    @BeforeAll
    static void write() throws IOException {
        teacher = TinyTeacher.write(dir.resolve("teacher"), 1, 3);
        twoStages = TinyCheckpoints.write(dir).folder();
    }

    private static String oneLineError(int code, String... args) {
        GenerateCommandTest.Run r = run(args);
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        return r.err();
    }

    @Test
    void prunesWritesAModelThatGeneratesAndReportsWhatItDid() throws IOException {
        Path out = dir.resolve("small"), report = dir.resolve("small.json");
        GenerateCommandTest.Run r = run("prune", "--model", teacher.toString(), "--preset", "small", "--magnitude", "0.1", "--out", out.toString(),
                "--report", report.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("wrote " + out) && r.out().contains("M MACs"), r.out());
        String rep = Files.readString(report);
        assertTrue(rep.contains("\"blocks\"") && rep.contains("\"magnitude\"") && rep.contains("\"zeroed\""), rep);
        // magnitude pruning keeps shapes and formats: the stored size is the one without it
        Path plain = dir.resolve("small-plain");
        assertEquals(0, run("prune", "--model", teacher.toString(), "--preset", "small", "--out", plain.toString(), "--quiet").code());
        String unet = "unet/diffusion_pytorch_model.safetensors";
        assertEquals(Files.size(plain.resolve(unet)), Files.size(out.resolve(unet)));
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(plain.resolve(unet)), Files.readAllBytes(out.resolve(unet))));
        GenerateCommandTest.Run gen = run("generate", "--model", out.toString(), "--prompt", "a dress", "--steps", "2",
                "--out", dir.resolve("small.png").toString(), "--quiet");
        assertEquals(0, gen.code(), gen.err());
    }

    @Test
    void optionsThatDoNotFitAreOneLineErrors() throws IOException {
        String tiny = oneLineError(1, "prune", "--model", twoStages.toString(), "--preset", "tiny", "--out", dir.resolve("x").toString());
        assertTrue(tiny.contains("tiny removes the innermost stage, which needs at least 3 stages, this UNet has 2"), tiny);
        String keep = oneLineError(2, "prune", "--model", teacher.toString(), "--keep", "0,0.5", "--out", dir.resolve("x").toString());
        assertTrue(keep.contains("--keep ratios must be in (0, 1), got 0.0"), keep);
        String keepOne = oneLineError(2, "prune", "--model", teacher.toString(), "--keep", "0.5,1", "--out", dir.resolve("x").toString());
        assertTrue(keepOne.contains("got 1.0"), keepOne);
        String nothing = oneLineError(2, "prune", "--model", teacher.toString(), "--out", dir.resolve("x").toString());
        assertTrue(nothing.contains("give --preset"), nothing);
        String preset = oneLineError(2, "prune", "--model", teacher.toString(), "--preset", "huge", "--out", dir.resolve("x").toString());
        assertTrue(preset.contains("--preset must be base, small or tiny"), preset);
        assertFalse(Files.exists(dir.resolve("x")));

        Path images = TinyTeacher.captionedImages(dir.resolve("uncaptioned"), 2);
        Files.delete(images.resolve("img0.txt"));
        Path recipe = Files.writeString(dir.resolve("r.json"), dev.edgediffuse.distill.DistillTestRecipes.recipe(teacher, images, 2));
        String captions = oneLineError(1, "distill", "--recipe", recipe.toString(), "--out", dir.resolve("d").toString());
        assertTrue(captions.contains("1 of 2 images have no caption file"), captions);
        String loss = oneLineError(2, "distill", "--recipe", recipe.toString(), "--loss", "1,0", "--out", dir.resolve("d").toString());
        assertTrue(loss.contains("--loss needs three weights"), loss);
    }
}
