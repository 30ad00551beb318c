package dev.edgediffuse.server;

import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.tensor.Buffers;

import java.io.PrintStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One model's worker thread. Jobs wait in a FIFO; the worker keeps up to {@code maxBatch} jobs of one latent size
 * active and runs one UNet call per step for all of them (their [uncond, cond] rows stacked), admitting waiting
 * jobs of the same size between steps. A job leaves when it reaches its stop step, is cancelled, or times out.
 * Batching does not change results: each row's math is independent (tested bitwise).
 */
final class Batcher implements AutoCloseable {
    final String name;
    final Denoiser denoiser;
    private final int maxBatch;
    private final PrintStream log;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private final List<Job> active = new ArrayList<>();
    private final Thread worker;
    private volatile boolean closed;
    private volatile double secondsPerStep = 0;
    private long batchedSteps, stepRows;

    Batcher(String name, Denoiser denoiser, int maxBatch, PrintStream log) {
        this.name = name;
        this.denoiser = denoiser;
        this.maxBatch = maxBatch;
        this.log = log;
        this.worker = Thread.ofPlatform().name("edgediffuse-" + name).daemon(true).start(this::loop);
    }

    void submit(Job job) {
        lock.lock();
        try {
            if (closed) throw new ApiError(503, "server is shutting down", 5);
            waiting.add(job);
            work.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Recent seconds per batched step (0 until measured), for Retry-After estimates. */
    double secondsPerStep() {
        return secondsPerStep;
    }

    /** UNet calls (batched steps) so far. */
    long batchedSteps() {
        lock.lock();
        try {
            return batchedSteps;
        } finally {
            lock.unlock();
        }
    }

    /** Average sessions per UNet call so far. */
    double meanBatch() {
        lock.lock();
        try {
            return batchedSteps == 0 ? 0 : (double) stepRows / batchedSteps;
        } finally {
            lock.unlock();
        }
    }

    private void loop() {
        while (true) {
            List<Job> admitted = new ArrayList<>();
            lock.lock();
            try {
                if (!closed && active.isEmpty() && waiting.isEmpty()) Buffers.clear(); // idle: hand the UNet's arrays back
                while (!closed && active.isEmpty() && waiting.isEmpty()) work.awaitUninterruptibly();
                if (closed) break;
                Job sizeOf = active.isEmpty() ? waiting.peek() : active.getFirst();
                for (Iterator<Job> it = waiting.iterator(); it.hasNext() && active.size() + admitted.size() < maxBatch; ) {
                    Job j = it.next();
                    if (j.request.width() == sizeOf.request.width() && j.request.height() == sizeOf.request.height()) {
                        it.remove();
                        admitted.add(j);
                    }
                }
            } finally {
                lock.unlock();
            }
            for (Job j : admitted) start(j);
            dropStopped();
            if (active.isEmpty()) continue;
            step();
        }
        lock.lock();
        try {
            for (Job j : waiting) j.done.completeExceptionally(new ApiError(503, "server is shutting down", 5));
            for (Job j : active) j.done.completeExceptionally(new ApiError(503, "server is shutting down", 5));
            waiting.clear();
            active.clear();
        } finally {
            lock.unlock();
        }
    }

    private void start(Job j) {
        String stop = j.stopReason();
        if (stop != null) {
            j.done.completeExceptionally(stopped(stop));
            return;
        }
        try {
            j.session = denoiser.start(j.request);
            if (j.stopAt == 0) finish(j);
            else active.add(j);
        } catch (IllegalArgumentException e) {
            j.done.completeExceptionally(ApiError.badRequest(e.getMessage()));
        } catch (RuntimeException | OutOfMemoryError e) {
            internal(j, e);
        }
    }

    private void dropStopped() {
        for (Iterator<Job> it = active.iterator(); it.hasNext(); ) {
            Job j = it.next();
            String stop = j.stopReason();
            if (stop != null) {
                it.remove();
                j.done.completeExceptionally(stopped(stop));
            }
        }
    }

    private void step() {
        List<DenoiseSession> sessions = new ArrayList<>(active.size());
        for (Job j : active) sessions.add(j.session);
        long t = System.nanoTime();
        try {
            denoiser.step(sessions);
        } catch (RuntimeException | OutOfMemoryError e) {
            for (Job j : active) internal(j, e);
            active.clear();
            return;
        }
        double s = (System.nanoTime() - t) / 1e9;
        secondsPerStep = secondsPerStep == 0 ? s : 0.8 * secondsPerStep + 0.2 * s;
        lock.lock();
        try {
            batchedSteps++;
            stepRows += sessions.size();
        } finally {
            lock.unlock();
        }
        for (Iterator<Job> it = active.iterator(); it.hasNext(); ) {
            Job j = it.next();
            j.stepped();
            if (j.session.nextStep() >= j.stopAt) {
                it.remove();
                finish(j);
            }
        }
    }

    private void finish(Job j) {
        try {
            if (j.decode) j.image = denoiser.decode(j.session);
            j.finishedSeconds = j.secondsSinceAccepted();
            j.done.complete(j);
        } catch (RuntimeException | OutOfMemoryError e) {
            internal(j, e);
        }
    }

    private static ApiError stopped(String reason) {
        return reason.equals("timed out") ? new ApiError(504, "request timed out on the server") : new ApiError(499, reason);
    }

    private void internal(Job j, Throwable e) {
        log.println("edgediffuse serve: " + name + ": request failed: " + e);
        String msg = e instanceof IllegalStateException ? e.getMessage() : "internal error while generating";
        j.done.completeExceptionally(new ApiError(500, msg));
    }

    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            worker.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
