package dev.edgediffuse.eval;

import java.io.PrintStream;

/**
 * A one-line progress bar like pipeline.Progress (done/total, bar, rate, ETA) that also carries a caller's status text
 * (loss, accuracy) and counts items per second rather than seconds per step. On a terminal it redraws in place;
 * otherwise it prints at most one line per {@code minInterval} seconds, plus the last.
 */
public final class ProgressLine {
    private final PrintStream out;
    private final String label, unit;
    private final long total;
    private final long start = System.nanoTime();
    private final boolean terminal = System.console() != null;
    private final double minInterval;
    private long lastPrint = Long.MIN_VALUE;

    public ProgressLine(PrintStream out, String label, long total, String unit) {
        this(out, label, total, unit, System.console() != null ? 0.2 : 10);
    }

    public ProgressLine(PrintStream out, String label, long total, String unit, double minIntervalSeconds) {
        this.out = out;
        this.label = label;
        this.total = Math.max(1, total);
        this.unit = unit;
        this.minInterval = minIntervalSeconds;
    }

    /** {@code done} items of the total are finished; {@code status} (nullable) is appended. */
    public void update(long done, String status) {
        if (out == null) return;
        long now = System.nanoTime();
        boolean last = done >= total;
        if (!last && lastPrint != Long.MIN_VALUE && (now - lastPrint) / 1e9 < minInterval) return;
        lastPrint = now;
        double elapsed = (now - start) / 1e9;
        double rate = done / Math.max(elapsed, 1e-9);
        double eta = rate > 0 ? (total - done) / rate : 0;
        int width = 24, filled = (int) Math.round(width * (double) Math.min(done, total) / total);
        String bar = "#".repeat(filled) + " ".repeat(width - filled);
        String line = String.format("%s %d/%d |%s| %.1f %s/s, %s elapsed, ETA %s%s", label, done, total, bar, rate, unit,
                clock(elapsed), clock(eta), status == null || status.isEmpty() ? "" : ", " + status);
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
