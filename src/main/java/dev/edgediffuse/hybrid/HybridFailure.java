package dev.edgediffuse.hybrid;

/** Why the server's part could not be used (unreachable, too slow, error status, bad payload); one line. */
public class HybridFailure extends Exception {
    public HybridFailure(String message) {
        super(message, null, false, false);
    }
}
