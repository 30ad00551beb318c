package dev.edgediffuse.pipeline;

import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The model used when no --model is given: for now a tiny random-weight SD1-architecture checkpoint, written once
 * into the user's cache (it is deterministic, so every machine gets the same one).
 */
public final class BuiltInModel {
    private static final String NAME = "tiny-random-v1";

    private BuiltInModel() {}

    public static Path path(PrintStream log) {
        String cache = System.getenv("XDG_CACHE_HOME");
        Path root = cache != null ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache");
        Path dir = root.resolve("edgediffuse").resolve(NAME);
        if (Files.isRegularFile(dir.resolve("model_index.json"))) return dir;
        try {
            Path tmp = Files.createDirectories(root.resolve("edgediffuse")).resolve(NAME + ".tmp-" + ProcessHandle.current().pid());
            RandomCheckpoint.writeFolder(tmp, ModelConfigs.builtIn("tiny"), DType.F32, 0);
            try {
                Files.move(tmp, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(dir.resolve("model_index.json"))) throw raced;
            }
            if (log != null) log.println("created the built-in model at " + dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
