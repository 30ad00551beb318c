package dev.edgediffuse.format;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Writes a file through a temporary sibling and a rename, so readers never see a partial file. The sibling is created
 * with the process's umask (as any other new file: Files.createTempFile would make every output 0600), and a failure
 * is an IOException whose message names the file and the reason.
 */
public final class AtomicFiles {
    private static final SecureRandom NAMES = new SecureRandom();

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
        // made like any mkdir'd folder (the umask applies), not private as Files.createTempDirectory's are
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + HexFormat.of().formatHex(NAMES.generateSeed(6)) + ".part");
        Files.createDirectory(tmp);
        try {
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
        try {
            Path tmp = createSibling(abs);
            try {
                try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.WRITE)) {
                    out.write(bytes);
                }
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
        } catch (IOException e) {
            throw new IOException(describe(abs, e), e);
        }
    }

    /**
     * A new, empty temporary file beside {@code target} (its folders created), named after it, with the default
     * permissions of a new file (the umask applies).
     */
    public static Path createSibling(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        for (int attempt = 0; ; attempt++) {
            Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + HexFormat.of().formatHex(NAMES.generateSeed(6)) + ".part");
            try {
                Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                return tmp;
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt > 10) throw e;
            }
        }
    }

    /**
     * Fails now, with the reason, when {@code target} could not be written later: its folder cannot be made or written
     * to, or it is a folder. Creates the folder as the write would, and leaves no file behind.
     */
    public static void checkWritable(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        if (Files.isDirectory(abs)) throw new IOException(abs + ": is a folder, not a file");
        try {
            Files.delete(createSibling(abs));
        } catch (IOException e) {
            throw new IOException(describe(abs, e), e);
        }
    }

    /**
     * Fails now, with the reason, when a file or folder could not be made at {@code target} later because its folder
     * cannot be made or written to (a regular file on the way, no permission, a read-only file system). Creates that
     * folder as the write would, and leaves nothing else behind. Whether {@code target} itself may exist is the
     * writer's rule (a finished training output is reused, a compress result replaced).
     */
    public static void checkFolderWritable(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        try {
            Files.delete(createSibling(abs));
        } catch (IOException e) {
            throw new IOException(describe(abs, e), e);
        }
    }

    /** "{file}: cannot write ({reason})", the reason in words where the exception has only a path. */
    public static String describe(Path file, IOException e) {
        String why;
        if (e instanceof AccessDeniedException) why = "permission denied";
        else if (e instanceof NoSuchFileException n) why = "no such folder " + (n.getFile() == null ? "" : n.getFile());
        else if (e instanceof NotDirectoryException n) why = (n.getFile() == null ? "a parent" : n.getFile()) + " is not a folder";
        else if (e instanceof FileSystemException f && f.getReason() != null) why = f.getReason();
        else if (e instanceof FileSystemException) why = e.getClass().getSimpleName().replace("Exception", "");
        else why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return file + ": cannot write (" + why.strip() + ")";
    }
}
