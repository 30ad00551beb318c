package dev.edgediffuse.progress;

import java.io.PrintStream;

/**
 * A one-line progress bar: done/total, bar, rate (seconds per step, or items per second with a unit), elapsed time,
 * ETA and an optional status text (loss, accuracy). On a terminal it redraws in place; otherwise it prints at most
 * one line per {@code minInterval} seconds, plus the last. A null stream prints nothing.
 */
public final class Progress {
    private final PrintStream out;
    private final String label, unit;
    private final long total;
    private final long start = System.nanoTime();
    private final boolean terminal = System.console() != null;
    private final double minInterval;
    private long lastPrint = Long.MIN_VALUE;

    private Progress(PrintStream out, String label, long total, String unit, double minIntervalSeconds) {
        this.out = out;
        this.label = label;
        this.total = Math.max(1, total);
        this.unit = unit;
        this.minInterval = minIntervalSeconds;
    }

    /** Steps that each take a while (denoising): every step is shown, the rate in seconds per step. */
    public static Progress steps(PrintStream out, String label, long total) {
        return new Progress(out, label, total, null, 0);
    }

    /** Many quick items (images, samples): the rate in {@code unit}s per second, lines throttled off a terminal. */
    public static Progress items(PrintStream out, String label, long total, String unit) {
        return new Progress(out, label, total, unit, System.console() != null ? 0.2 : 10);
    }

    public void step(long done) {
        update(done, null);
    }

    /** {@code done} of the total are finished; {@code status} (nullable) is appended. */
    public void update(long done, String status) {
        if (out == null) return;
        long now = System.nanoTime();
        boolean last = done >= total;
        if (!last && lastPrint != Long.MIN_VALUE && (now - lastPrint) / 1e9 < minInterval) return;
        lastPrint = now;
        double elapsed = (now - start) / 1e9;
        double perItem = elapsed / Math.max(1, done);
        double eta = done > 0 ? perItem * (total - done) : 0;
        int width = 24, filled = (int) Math.round(width * (double) Math.min(done, total) / total);
        String bar = "#".repeat(filled) + " ".repeat(width - filled);
        String rate = unit == null ? String.format("%.2f s/it", perItem) : String.format("%.1f %s/s", done / Math.max(elapsed, 1e-9), unit);
        String line = String.format("%s %d/%d |%s| %s, %s elapsed, ETA %s%s", label, done, total, bar, rate, clock(elapsed),
                clock(eta), status == null || status.isEmpty() ? "" : ", " + status);
        if (terminal) out.print("\r" + line + (last ? "\n" : ""));
        else out.println(line);
        out.flush();
    }

    public double elapsedSeconds() {
        return (System.nanoTime() - start) / 1e9;
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%02d:%02d", s / 60, s % 60);
    }
}
