package dev.edgediffuse.cli;

import dev.edgediffuse.format.AtomicFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** Output paths checked before the work that fills them: a bad one fails in a second, not after the generation. */
final class OutputFiles {
    private OutputFiles() {}

    /** A PNG output: named .png (the only image format written; any other name would hold PNG bytes) and writable. */
    static void png(String option, Path path) throws IOException {
        String name = String.valueOf(path.getFileName()).toLowerCase(Locale.ROOT);
        if (!name.endsWith(".png")) throw new UsageException(option + " must name a .png file (PNG is the format written), got " + path);
        AtomicFiles.checkWritable(path);
    }

    /** A model folder, LoRA file or other long run's output: its folder writable, before hours of work fill it. */
    static void outputOfLongRun(Path path) throws IOException {
        AtomicFiles.checkFolderWritable(path);
    }

    /** Any other output: writable. */
    static void writable(Path path) throws IOException {
        if (path != null) AtomicFiles.checkWritable(path);
    }
}
