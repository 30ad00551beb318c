package dev.edgediffuse.format;

/** A checkpoint, config or data file that cannot be used; the message is one line naming the file and the problem. */
public final class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
