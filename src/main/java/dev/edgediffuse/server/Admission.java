package dev.edgediffuse.server;

/** The bounded queue's gate: how many images are admitted (waiting or running), and a Retry-After estimate. */
final class Admission {
    private final int capacity, maxBatch;
    private int inFlight;
    private double secondsPerImage;

    Admission(int capacity, int maxBatch) {
        this.capacity = capacity;
        this.maxBatch = maxBatch;
    }

    /** Admits {@code n} images or throws 503 with Retry-After. */
    synchronized void enter(int n) {
        if (n > capacity) throw ApiError.badRequest("asks for " + n + " images; this server admits at most " + capacity + " at once");
        if (inFlight + n > capacity) {
            double wait = secondsPerImage == 0 ? 1 : secondsPerImage * Math.ceil((inFlight + n) / (double) maxBatch);
            int retry = (int) Math.max(1, Math.min(300, Math.ceil(wait)));
            throw new ApiError(503, "server busy: " + inFlight + " of " + capacity + " queue slots taken; retry later", retry);
        }
        inFlight += n;
    }

    synchronized void leave(int n, double secondsEach) {
        inFlight -= n;
        if (secondsEach > 0) secondsPerImage = secondsPerImage == 0 ? secondsEach : 0.8 * secondsPerImage + 0.2 * secondsEach;
    }

    synchronized int inFlight() {
        return inFlight;
    }

    int capacity() {
        return capacity;
    }
}
