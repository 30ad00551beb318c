package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.testing.TinyTeacher;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The qat stage in a compress recipe: W8A8 from the calibrate stage before it, exported to q8, cached on a rerun. */
class QatStageTest {
    @TempDir
    static Path dir;
    static Path model, qatRecipe;

    static final String CALIBRATE = """
            {"stage": "calibrate", "prompts": "general", "count": 2, "width": 32, "height": 32, "keep_steps": 2, "keep_prompts": 2,
             "hessian_block": 128, "formats": ["q8", "f16"]}""";

    @BeforeAll
    static void write() throws IOException {
        model = TinyTeacher.write(dir.resolve("teacher"), 1, 5);
        Path images = TinyTeacher.captionedImages(dir.resolve("images"), 8);
        qatRecipe = Files.writeString(dir.resolve("qat.json"), """
                {"name": "qat", "teacher": "unused: the stage's input", "data": "%s", "seed": 9, "checkpoint_seconds": 0, "dtype": "f32",
                 "weights": "q8", "activations": "int8", "train": "weights", "clip": "absmax", "loss": {"task": 1, "output": 1},
                 "qat": {"steps": 50, "batch": 2, "lr": 1e-3, "warmup": 1, "ema": 0.9}}""".formatted(images));
    }

    static CompressRecipe recipe(String name, String stages) throws IOException {
        Path f = Files.writeString(dir.resolve(name + ".json"), "{\"name\": \"" + name + "\", \"stages\": " + stages + "}");
        return CompressRecipe.read(f, null);
    }

    @Test
    void calibrateThenQatWritesAnEightBitModelWithActivationRangesAndIsCachedOnARerun() throws IOException {
        String stages = "[" + CALIBRATE + ", {\"stage\": \"qat\", \"recipe\": \"" + qatRecipe + "\", \"steps\": 2}]";
        Path work = dir.resolve("w8a8.work");
        Workflow.Result result = new Workflow(recipe("w8a8", stages), work, null).run(model);
        try (Checkpoint q = Checkpoint.open(result.finalModel(), null)) {
            assertEquals("q8", q.unet.tensors().get("down_blocks.0.resnets.0.conv1.weight").dtype().formatName());
        }
        assertTrue(Files.isRegularFile(result.finalModel().resolve("unet").resolve(ActivationRanges.FILE)), "W8A8 keeps its trained ranges");
        Workflow.Result again = new Workflow(recipe("w8a8", stages), work, null).run(model);
        assertTrue(again.stages().stream().allMatch(Workflow.StageRun::cached), "a rerun does no work");
    }

    @Test
    void qatIsAQuantizationStageAndInt8NeedsCalibrationFirst() throws IOException {
        String qat = "{\"stage\": \"qat\", \"recipe\": \"" + qatRecipe + "\"}";
        String m = assertThrows(ModelFormatException.class, () -> recipe("no-calib", "[" + qat + "]")).getMessage();
        assertTrue(m.contains("needs calibration data") && !m.contains("\n"), m);
        m = assertThrows(ModelFormatException.class, () -> recipe("twice", "[" + CALIBRATE + ", " + qat + ", {\"stage\": \"quantize\", "
                + "\"weights\": \"q8\"}]")).getMessage();
        assertTrue(m.contains("already quantized") && !m.contains("\n"), m);
        assertFalse(Files.exists(dir.resolve("no-calib.work")));
    }
}
