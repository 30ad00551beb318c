package dev.edgediffuse.tensor;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;

/**
 * Reused activation arrays, so a denoising step does not leave gigabytes of garbage behind: kernels take their
 * outputs here, and model code gives back the intermediates it has consumed. Arrays come back uncleared — every
 * kernel that takes one writes all of it. Per thread, bounded (a third of the heap, at most 256 MiB), and emptied
 * with {@link #clear} between stages whose array sizes differ (the UNet's are not the VAE's).
 *
 * <p>Only what is given back is reused, so a forgotten {@link #give} costs garbage, never correctness; giving back
 * an array that is still read elsewhere is the one mistake to avoid. While gradients are recorded nothing is given
 * back (the tape keeps every intermediate), see {@link #setEnabled}. The VAE, run once per image, gives nothing
 * back: there a pool would only hold on to memory that the next, larger level needs.
 */
public final class Buffers {
    private static final long CAP_FLOATS = Math.min(256L << 20, Runtime.getRuntime().maxMemory() / 3) / 4;
    private static final ThreadLocal<Pool> POOL = ThreadLocal.withInitial(Pool::new);

    private static final class Pool {
        /** Arrays by length, the least recently used length first: the first to go when the pool is full. */
        final LinkedHashMap<Integer, ArrayDeque<float[]>> free = new LinkedHashMap<>(16, 0.75f, true);
        long floats;
        boolean enabled = true;
    }

    private Buffers() {}

    /** An array of exactly n floats, reused when one was given back, else new; contents undefined. */
    public static float[] take(int n) {
        Pool p = POOL.get();
        ArrayDeque<float[]> q = p.free.get(n);
        float[] a = q == null ? null : q.pollFirst();
        if (a == null) return new float[n];
        p.floats -= n;
        return a;
    }

    /** Hands back an array nobody reads any more (null is ignored); when full, arrays of the longest-unused length make room. */
    public static void give(float[] a) {
        Pool p = POOL.get();
        if (a == null || !p.enabled || a.length > CAP_FLOATS) return;
        var lengths = p.free.entrySet().iterator();
        while (p.floats + a.length > CAP_FLOATS && lengths.hasNext()) {
            var e = lengths.next();
            if (e.getKey() == a.length) continue;
            p.floats -= (long) e.getKey() * e.getValue().size();
            lengths.remove();
        }
        if (p.floats + a.length > CAP_FLOATS) return;
        p.free.computeIfAbsent(a.length, k -> new ArrayDeque<>()).addFirst(a);
        p.floats += a.length;
    }

    /** Drops every pooled array of this thread (its memory goes back to the collector). */
    public static void clear() {
        Pool p = POOL.get();
        p.free.clear();
        p.floats = 0;
    }

    /** Turns reuse on this thread off (while a gradient tape records) or back on; off also clears. */
    public static void setEnabled(boolean on) {
        Pool p = POOL.get();
        p.enabled = on;
        if (!on) clear();
    }
}
