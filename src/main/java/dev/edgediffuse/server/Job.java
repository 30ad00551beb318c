package dev.edgediffuse.server;

import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.GenerateRequest;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

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
    /** Who follows this job's steps (the progress stream), or null; called on the model's worker thread. */
    private final Consumer<Step> watcher;

    /** A finished step: steps done of {@code total}, and a copy of the latents, channels-last [h][w][c]. */
    record Step(int done, int total, float[] latents, int[] latentShape) {}

    Job(GenerateRequest request, int stopAt, boolean decode, long timeoutNanos) {
        this(request, stopAt, decode, timeoutNanos, null);
    }

    Job(GenerateRequest request, int stopAt, boolean decode, long timeoutNanos, Consumer<Step> watcher) {
        this.watcher = watcher;
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

    /** Tells the watcher, if any, that a step finished (it must be quick: the batch waits). */
    void stepped() {
        if (watcher != null) watcher.accept(new Step(session.nextStep() - session.firstStep(), stopAt - session.firstStep(),
                session.latents(), session.latentShape()));
    }

    double secondsSinceAccepted() {
        return (System.nanoTime() - acceptedNanos) / 1e9;
    }
}
