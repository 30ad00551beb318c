package dev.edgediffuse.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A fixed set of worker threads, one per core, that split index ranges with the calling thread.
 * Work is claimed through a shared counter so uneven tasks balance themselves.
 */
public final class Parallel {
    private static volatile int threads = Math.max(1, Integer.getInteger("edgediffuse.threads", Runtime.getRuntime().availableProcessors()));
    private static final java.util.concurrent.ExecutorService POOL = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "edgediffuse-worker");
        t.setDaemon(true);
        return t;
    });

    private Parallel() {}

    public static int threads() {
        return threads;
    }

    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1");
        threads = n;
    }

    /** Runs body(i) for i in [0, n), spread over the worker threads; returns when all are done. */
    public static void forEach(int n, IntConsumer body) {
        int t = Math.min(threads, n);
        if (t <= 1 || Thread.currentThread().getName().equals("edgediffuse-worker")) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicInteger remaining = new AtomicInteger(t - 1);
        Thread caller = Thread.currentThread();
        Throwable[] failure = new Throwable[1];
        Runnable worker = () -> {
            try {
                for (int i; (i = next.getAndIncrement()) < n; ) body.accept(i);
            } catch (Throwable e) {
                synchronized (failure) { if (failure[0] == null) failure[0] = e; }
                next.set(n);
            } finally {
                if (remaining.decrementAndGet() == 0) LockSupport.unpark(caller);
            }
        };
        for (int k = 0; k < t - 1; k++) POOL.execute(worker);
        try {
            for (int i; (i = next.getAndIncrement()) < n; ) body.accept(i);
        } catch (Throwable e) {
            synchronized (failure) { if (failure[0] == null) failure[0] = e; }
            next.set(n);
        }
        while (remaining.get() > 0) LockSupport.park(Parallel.class);
        if (failure[0] instanceof RuntimeException re) throw re;
        if (failure[0] instanceof Error er) throw er;
        if (failure[0] != null) throw new RuntimeException(failure[0]);
    }
}
