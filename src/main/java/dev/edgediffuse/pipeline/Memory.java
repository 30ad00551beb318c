package dev.edgediffuse.pipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this process from /proc (Linux); -1 where unavailable. */
public final class Memory {
    private Memory() {}

    /** Peak resident set size (VmHWM) in bytes. */
    public static long peakRss() {
        return statusField("VmHWM:");
    }

    /** Resets the peak (VmHWM) to the current RSS, so the next stage's peak can be measured on its own. */
    public static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException e) {
            // not Linux or not permitted: peaks then accumulate, which only overstates them
        }
    }

    /** Heap bytes allocated so far by all threads (HotSpot's accounting), for garbage per stage; -1 where unknown. */
    public static long allocatedBytes() {
        try {
            return ((com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean()).getTotalThreadAllocatedBytes();
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    public static long currentRss() {
        return statusField("VmRSS:");
    }

    private static long statusField(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    public static String mib(long bytes) {
        return bytes < 0 ? "n/a" : String.format("%.0f MiB", bytes / 1048576.0);
    }
}
