package dev.edgediffuse.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Controls which pages of memory-mapped weights are resident, through madvise(2): populate a mapping ahead of use
 * (a cold start without page-fault storms) and drop a weight's pages once a GEMM has packed it (the pages stay in
 * the page cache, so the next use is a cheap minor fault, but they leave this process's resident set).
 */
public final class Residency {
    private static final int MADV_DONTNEED = 4, MADV_POPULATE_READ = 22;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE = lookup();
    /** On by default: re-reading released pages from the page cache costs far less than keeping GBs resident. */
    private static volatile boolean releaseAfterUse = !Boolean.getBoolean("edgediffuse.keepWeightsResident");

    private Residency() {}

    private static MethodHandle lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("madvise").map(addr -> linker.downcallHandle(addr,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null; // not Linux, or native access denied: residency hints become no-ops
        }
    }

    /** Whether weights leave the resident set after each use (default) or stay resident once read. */
    public static void setReleaseAfterUse(boolean on) {
        releaseAfterUse = on;
    }

    public static boolean releaseAfterUse() {
        return releaseAfterUse;
    }

    /** Before a weight is read in full: one populate call instead of a page fault per 4 KB. */
    public static void acquire(MemorySegment data) {
        if (releaseAfterUse) advise(data, MADV_POPULATE_READ);
    }

    /** After a weight has been read in full: drop its pages from the resident set (they stay in the page cache). */
    public static void release(MemorySegment data) {
        if (releaseAfterUse) advise(data, MADV_DONTNEED);
    }

    /** Reads a mapping into memory ahead of use; returns false where the kernel cannot (older than Linux 5.14). */
    public static boolean populate(MemorySegment data) {
        return advise(data, MADV_POPULATE_READ);
    }

    private static boolean advise(MemorySegment data, int advice) {
        if (MADVISE == null || !data.isNative() || !data.isMapped()) return false;
        long start = data.address(), end = start + data.byteSize();
        long from = (start + PAGE - 1) & -PAGE, to = end & -PAGE;
        if (to <= from) return false;
        try {
            return (int) MADVISE.invokeExact(MemorySegment.ofAddress(from), to - from, advice) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
