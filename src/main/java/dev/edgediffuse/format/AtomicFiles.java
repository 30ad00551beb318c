package dev.edgediffuse.format;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes a file through a temporary sibling and a rename, so readers never see a partial file; a folder likewise,
 * built under a temporary name and renamed once complete.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Fills a folder that becomes visible only when {@code fill} has returned. */
    @FunctionalInterface
    public interface FolderContents {
        void fill(Path folder) throws IOException;
    }

    /**
     * Creates folder {@code out} (which must not exist, or be empty) with what {@code fill} puts in a temporary sibling;
     * on any failure nothing is left behind.
     */
    public static void writeFolder(Path out, FolderContents fill) throws IOException {
        if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out))) {
            throw new IllegalArgumentException(out + " already exists; choose a new output folder");
        }
        Path abs = out.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempDirectory(abs.getParent(), abs.getFileName() + ".part");
        try {
            // temporary folders are private (0700); the finished folder should be as readable as a mkdir'd one
            if (Files.getFileStore(tmp).supportsFileAttributeView("posix")) {
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            fill.fill(tmp);
            if (Files.exists(out)) Files.delete(out); // the empty folder checked above
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    /** Deletes a folder and everything in it, quietly (a leftover temporary folder is harmless). */
    public static void deleteTree(Path p) {
        try (var paths = Files.walk(p)) {
            for (Path x : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        } catch (IOException ignored) {
            // nothing to act on
        }
    }

    public static void write(Path path, byte[] bytes) throws IOException {
        Path abs = path.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, abs.getFileName().toString(), ".part");
        try {
            Files.write(tmp, bytes);
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }
}
