package dev.edgediffuse.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Folder helpers for tests that derive a model folder from another. */
public final class Folders {
    private Folders() {}

    /** Copies {@code src} and everything under it to {@code dst} (which must not exist yet); returns {@code dst}. */
    public static Path copy(Path src, Path dst) throws IOException {
        try (var paths = Files.walk(src)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                Path t = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
        return dst;
    }
}
