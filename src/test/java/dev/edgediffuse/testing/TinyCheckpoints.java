package dev.edgediffuse.testing;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.nio.file.Path;

/** The built-in "tiny" random-weight checkpoint in both real layouts, plus its config folder for the single file. */
public record TinyCheckpoints(Path folder, Path single, Path configs) {
    /** Writes them under {@code dir} (f32 weights, seed 7: the same weights in both layouts). */
    public static TinyCheckpoints write(Path dir) throws IOException {
        ModelConfigs tiny = ModelConfigs.builtIn("tiny");
        Path folder = dir.resolve("tiny"), single = dir.resolve("tiny-single.safetensors"), configs = dir.resolve("tiny-configs");
        RandomCheckpoint.writeFolder(folder, tiny, DType.F32, 7);
        RandomCheckpoint.writeSingleFile(single, tiny, DType.F32, 7);
        tiny.writeTo(configs);
        return new TinyCheckpoints(folder, single, configs);
    }
}
