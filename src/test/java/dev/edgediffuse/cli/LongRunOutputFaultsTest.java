package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Long runs and a failing disk: an output that cannot be written fails at the start of every long-running command
 * (not after the training), and a write that fails half-way (a full disk, an input that disappears) leaves no
 * half-written model folder, LoRA or calibration file and no temporary file beside it.
 */
class LongRunOutputFaultsTest {
    @TempDir
    static Path dir;
    static Path model, blocker;

    @BeforeAll
    static void write() throws IOException {
        model = TinyCheckpoints.write(dir.resolve("models")).folder();
        blocker = Files.writeString(dir.resolve("blocker"), "a regular file where a folder would go");
        Files.createDirectories(dir.resolve("images"));
    }

    @Test
    void anOutputThatCannotBeWrittenFailsBeforeTheWork() throws IOException {
        Path recipe = Files.writeString(dir.resolve("compress.json"), "{\"name\": \"c\", \"stages\": [{\"stage\": \"quantize\", \"weights\": \"q8\"}]}");
        Path qat = Files.writeString(dir.resolve("qat.json"), """
                {"name": "qat", "teacher": "%s", "data": "%s", "seed": 9, "checkpoint_seconds": 0, "dtype": "f32",
                 "weights": "q8", "activations": "float", "train": "weights", "clip": "absmax", "loss": {"task": 1, "output": 1},
                 "qat": {"steps": 2, "batch": 3, "lr": 1e-3, "warmup": 1, "ema": 0.9}}""".formatted(model, dir.resolve("images")));
        String m = model.toString(), out = blocker.resolve("out").toString();
        List<String[]> commands = List.of(
                new String[]{"convert", "--model", m, "--weights", "q8", "--out", out},
                new String[]{"prune", "--model", m, "--preset", "tiny", "--out", out},
                new String[]{"calibrate", "--model", m, "--calibration", out},
                new String[]{"compress", "--recipe", recipe.toString(), "--model", m, "--out", out},
                new String[]{"train-lora", "--model", m, "--data", dir.resolve("images").toString(), "--out", out + ".safetensors"},
                new String[]{"qat", "--recipe", qat.toString(), "--out", out});
        for (String[] args : commands) {
            List<String> before = listing();
            GenerateCommandTest.Run r = GenerateCommandTest.run(args);
            assertEquals(1, r.code(), args[0] + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), args[0] + ": one line: " + r.err());
            assertTrue(r.err().contains("blocker") && r.err().contains("cannot write"), args[0] + ": names the path and why: " + r.err());
            assertEquals(before, listing(), args[0] + ": nothing made (no work folder, no partial output)");
        }
    }

    /** A model folder or single file whose tensor fails half-way (the disk fills up): no output, no temporary sibling. */
    @Test
    void aWriteThatFailsHalfWayLeavesNoModel() throws IOException {
        try (Checkpoint cp = Checkpoint.open(model, null)) {
            Map<String, ModelTensor> tensors = new LinkedHashMap<>(cp.unet.tensors());
            AtomicInteger read = new AtomicInteger();
            String last = List.copyOf(tensors.keySet()).getLast();
            ModelTensor t = tensors.get(last);
            tensors.put(last, new ModelTensor(t.name(), t.dtype(), t.shape(), () -> {
                read.incrementAndGet();
                throw new UncheckedIOException(new IOException("No space left on device"));
            }));
            Checkpoint failing = cp.with(cp.unet.withTensors(tensors, "failing"));
            Path folders = Files.createDirectories(dir.resolve("half"));
            var e = assertThrows(UncheckedIOException.class, () -> new CheckpointWriter(null).writeFolder(failing, folders.resolve("model")));
            assertTrue(e.getMessage().contains("No space left"), e.getMessage());
            assertThrows(UncheckedIOException.class, () -> new CheckpointWriter(null).writeSingleFile(failing, folders.resolve("model.safetensors")));
            assertEquals(2, read.get(), "both writes got to the last UNet tensor");
            try (var left = Files.list(folders)) {
                assertEquals(List.of(), left.toList(), "nothing left behind");
            }
        }
    }

    /** LoRA, calibration and sensitivity files go through the safetensors writer: a failing tensor leaves nothing. */
    @Test
    void aSafetensorsWriteThatFailsHalfWayLeavesNoFile() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("half-file"));
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.add("lora_unet_conv_in.lora_down.weight", dev.edgediffuse.tensor.DType.F32, new float[8], 2, 4);
        w.add("lora_unet_conv_in.lora_up.weight", dev.edgediffuse.tensor.DType.F32, new int[]{4, 2}, (off, dst, count) -> {
            throw new UncheckedIOException(new IOException("No space left on device"));
        });
        assertThrows(UncheckedIOException.class, () -> w.write(folder.resolve("lora.safetensors")));
        try (var left = Files.list(folder)) {
            assertEquals(List.of(), left.toList(), "nothing left behind");
        }
    }

    private static List<String> listing() throws IOException {
        try (var files = Files.walk(dir)) {
            return files.map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }
}
