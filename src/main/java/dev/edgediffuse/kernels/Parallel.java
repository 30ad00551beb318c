package dev.edgediffuse.kernels;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * Worker threads, one per core besides the caller, that split index ranges with the calling thread. Work is claimed
 * through a shared counter so uneven tasks balance themselves. Between calls a worker spins for a short while before
 * it parks (as ggml's threads do): a small model runs thousands of kernels per second, and waking a parked thread
 * takes longer than many of them, so with a plain pool the caller did most of the work alone.
 */
public final class Parallel {
    private static volatile int threads = Math.max(1, Integer.getInteger("edgediffuse.threads", Runtime.getRuntime().availableProcessors()));
    /** How long an idle worker, and a caller waiting for one, spins before it sleeps. */
    private static final long SPIN_NANOS = 200_000;
    private static final ReentrantLock DISPATCH = new ReentrantLock();
    private static final List<Worker> WORKERS = new ArrayList<>(); // guarded by DISPATCH
    private static volatile Batch current;
    private static long batches; // guarded by DISPATCH

    private Parallel() {}

    public static int threads() {
        return threads;
    }

    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1");
        threads = n;
    }

    /**
     * Runs body(i) for i in [0, n), spread over the worker threads; returns when all are done. Nested calls, and calls
     * from a second thread while another one's call is running, run on the calling thread alone.
     */
    public static void forEach(int n, IntConsumer body) {
        int t = Math.min(threads, n);
        if (t <= 1 || Thread.currentThread() instanceof Worker || DISPATCH.isHeldByCurrentThread() || !DISPATCH.tryLock()) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        Batch b;
        try {
            while (WORKERS.size() < t - 1) {
                Worker w = new Worker();
                WORKERS.add(w);
                w.start();
            }
            b = new Batch(++batches, n, body, t - 1);
            current = b;
            for (Worker w : WORKERS) if (w.parked) LockSupport.unpark(w);
            b.work();
            // every index is claimed now; wait only for workers still running one (a late one finds nothing left)
            long start = System.nanoTime();
            while (b.active.get() > 0) {
                if (System.nanoTime() - start < SPIN_NANOS) Thread.onSpinWait();
                else LockSupport.parkNanos(Parallel.class, 20_000);
            }
        } finally {
            current = null; // nothing keeps the body, and the arrays it holds, reachable
            DISPATCH.unlock();
        }
        Throwable failure = b.failure;
        if (failure instanceof RuntimeException re) throw re;
        if (failure instanceof Error er) throw er;
        if (failure != null) throw new RuntimeException(failure);
    }

    /** One forEach call: its index counter, how many workers may join, and how many are inside body now. */
    private static final class Batch {
        final long id;
        final int n, helpers;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger(), tickets = new AtomicInteger(), active = new AtomicInteger();
        volatile Throwable failure;

        Batch(long id, int n, IntConsumer body, int helpers) {
            this.id = id;
            this.n = n;
            this.body = body;
            this.helpers = helpers;
        }

        void work() {
            try {
                for (int i; (i = next.getAndIncrement()) < n; ) body.accept(i);
            } catch (Throwable e) {
                if (failure == null) failure = e;
                next.set(n);
            }
        }
    }

    private static final class Worker extends Thread {
        volatile boolean parked;

        Worker() {
            super("edgediffuse-worker");
            setDaemon(true);
        }

        @Override
        public void run() {
            long seen = 0;
            long idleSince = System.nanoTime();
            while (true) {
                Batch b = current;
                if (b != null && b.id != seen) {
                    seen = b.id;
                    if (b.tickets.getAndIncrement() < b.helpers) {
                        b.active.incrementAndGet(); // before claiming an index: the caller waits until it is back to 0
                        b.work();
                        b.active.decrementAndGet();
                    }
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    Batch c = current; // re-read after announcing, so no dispatch is missed
                    if (c == null || c.id == seen) LockSupport.park(this);
                    parked = false;
                    idleSince = System.nanoTime();
                }
            }
        }
    }
}
