package dev.edgediffuse.cli;

/** Bad usage found after parsing (a value out of range, options that do not go together): one line, exit code 2. */
final class UsageException extends RuntimeException {
    UsageException(String message) {
        super(message);
    }
}
