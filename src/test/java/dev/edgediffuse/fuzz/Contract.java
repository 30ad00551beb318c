package dev.edgediffuse.fuzz;

import dev.edgediffuse.format.ModelFormatException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The contract every fuzz target checks: a parser returns a value or throws the project's one-line input error
 * ({@link ModelFormatException}, or {@link IllegalArgumentException} where that is its documented error); any other
 * exception, a multi-line or empty message, or an error (out of memory from a size taken on trust, a stack overflow)
 * propagates and Jazzer reports the input. Hangs are Jazzer's per-input timeout.
 */
final class Contract {
    private Contract() {}

    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body}; returns normally for a value or an allowed one-line error, rethrows anything else. */
    @SafeVarargs
    static void holds(Body body, Class<? extends Exception>... allowed) {
        try {
            body.run();
        } catch (Exception e) {
            for (Class<? extends Exception> a : allowed) {
                if (a.isInstance(e)) {
                    oneLine(e);
                    return;
                }
            }
            throw new AssertionError("not the one-line input error: " + e, e);
        }
    }

    static void oneLine(Exception e) {
        String m = e.getMessage();
        if (m == null || m.isBlank() || m.contains("\n")) throw new AssertionError("the message must be one line: " + m, e);
    }

    /** A temporary file holding {@code bytes}, for parsers that read files. */
    static Path file(String suffix, byte[] bytes) {
        try {
            Path p = Files.createTempFile("edgediffuse-fuzz", suffix);
            Files.write(p, bytes);
            p.toFile().deleteOnExit();
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover temporary file is harmless
        }
    }
}
