package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** For tests elsewhere: a linked copy of a model folder with other sampling defaults, as the speedups stage writes it. */
public final class SpeedupsStageAccess {
    private SpeedupsStageAccess() {}

    public static void writeDefaults(Path model, Path out, String json) throws IOException {
        ModelFolders.linkTree(model, out);
        Files.deleteIfExists(out.resolve(SamplingDefaults.FILE));
        AtomicFiles.write(out.resolve(SamplingDefaults.FILE), json.getBytes(StandardCharsets.UTF_8));
    }
}
