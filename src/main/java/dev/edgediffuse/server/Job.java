package dev.edgediffuse.server;

import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.GenerateRequest;

import java.util.concurrent.CompletableFuture;

/**
 * One image in the queue: its request, where to stop ({@code stopAt} steps; the total for a whole image, the split
 * for a hybrid handoff), its deadline, and the future the HTTP thread waits on. The future completes with the
 * session (denoised up to {@code stopAt}, decoded when {@code decode}) or an {@link ApiError}.
 */
final class Job {
    final GenerateRequest request;
    final int stopAt;
    final boolean decode;
    final long acceptedNanos = System.nanoTime();
    final long deadlineNanos;
    final CompletableFuture<Job> done = new CompletableFuture<>();
    DenoiseSession session;
    dev.edgediffuse.tensor.FeatureMap image;
    double finishedSeconds;
    private volatile String cancelReason;

    Job(GenerateRequest request, int stopAt, boolean decode, long timeoutNanos) {
        this.request = request;
        this.stopAt = stopAt;
        this.decode = decode;
        this.deadlineNanos = acceptedNanos + timeoutNanos;
    }

    /** Asks the worker to drop this job (client gone, timed out); harmless once done. */
    void cancel(String reason) {
        if (cancelReason == null) cancelReason = reason;
    }

    /** Why the job must stop now, or null to go on. */
    String stopReason() {
        if (cancelReason != null) return cancelReason;
        if (System.nanoTime() - deadlineNanos > 0) return "timed out";
        return null;
    }

    double secondsSinceAccepted() {
        return (System.nanoTime() - acceptedNanos) / 1e9;
    }
}
