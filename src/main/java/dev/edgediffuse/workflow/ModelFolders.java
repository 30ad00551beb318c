package dev.edgediffuse.workflow;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Model folders shared between stages and their output without copying the weights. */
public final class ModelFolders {
    private ModelFolders() {}

    /**
     * A copy of a model folder (or of a single model file, put inside {@code to}) whose files are hard links where the
     * file system allows, else copies.
     */
    public static void linkTree(Path from, Path to) throws IOException {
        if (!Files.isDirectory(from)) {
            Files.createDirectories(to);
            Files.copy(from, to.resolve(from.getFileName()));
            return;
        }
        try (var walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    try {
                        Files.createLink(target, p);
                    } catch (IOException | UnsupportedOperationException e) {
                        Files.copy(p, target);
                    }
                }
            }
        }
    }
}
