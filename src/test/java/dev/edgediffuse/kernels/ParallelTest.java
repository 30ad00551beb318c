package dev.edgediffuse.kernels;

import org.junit.jupiter.api.Test;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** forEach runs every index exactly once, on several threads, nested and from concurrent callers, and passes failures on. */
class ParallelTest {
    @Test
    void everyIndexRunsOnceAndItsWritesAreVisible() throws Exception {
        int before = Parallel.threads();
        Parallel.setThreads(4);
        try {
            ConcurrentHashMap<String, Boolean> threadNames = new ConcurrentHashMap<>();
            for (int round = 0; round < 2000; round++) {
                int n = 1 + round % 37;
                int[] hits = new int[n];
                Parallel.forEach(n, i -> {
                    hits[i]++;
                    threadNames.put(Thread.currentThread().getName(), true);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits[i], "round " + round + " index " + i);
                if (round % 500 == 0) Thread.sleep(2); // let the workers park, then wake them again
            }
            assertTrue(threadNames.containsKey("edgediffuse-worker"), "workers joined: " + threadNames.keySet());

            long[] sums = new long[8];
            Parallel.forEach(8, i -> Parallel.forEach(100, j -> sums[i] += j)); // nested: runs inline on the worker
            for (long s : sums) assertEquals(4950, s);
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void concurrentCallersEachGetAllTheirIndices() throws Exception {
        AtomicLong total = new AtomicLong();
        Thread[] callers = new Thread[3];
        AtomicInteger failures = new AtomicInteger();
        for (int c = 0; c < callers.length; c++) {
            callers[c] = new Thread(() -> {
                for (int r = 0; r < 300; r++) {
                    AtomicInteger count = new AtomicInteger();
                    Parallel.forEach(50, i -> count.incrementAndGet());
                    if (count.get() != 50) failures.incrementAndGet();
                    total.addAndGet(count.get());
                }
            });
            callers[c].start();
        }
        for (Thread t : callers) t.join();
        assertEquals(0, failures.get());
        assertEquals(3 * 300 * 50, total.get());
    }

    @Test
    void aFailureInAnyIndexReachesTheCaller() {
        IllegalStateException boom = new IllegalStateException("boom");
        for (int bad : new int[]{0, 17, 63}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.forEach(64, i -> {
                if (i == bad) throw boom;
            }));
            assertSame(boom, e);
        }
        AtomicInteger after = new AtomicInteger();
        Parallel.forEach(10, i -> after.incrementAndGet());
        assertEquals(10, after.get(), "the pool still works after a failure");
    }
}
