package dev.edgediffuse.format;

/**
 * A checkpoint, config or data file that cannot be used; the message is one line naming the file and the problem.
 * Text quoted from the file (a key, a value, a header fragment) may hold line breaks: they are shown as \\n, so the
 * message stays one line whatever the file holds.
 */
public final class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(oneLine(message));
    }

    public ModelFormatException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    private static String oneLine(String message) {
        if (message == null) return null;
        return message.replace("\r", "\\r").replace("\n", "\\n").replaceAll("[\\p{Cntrl}&&[^\\t]]", "?");
    }
}
