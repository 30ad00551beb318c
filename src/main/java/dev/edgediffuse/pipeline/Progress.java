package dev.edgediffuse.pipeline;

import java.io.PrintStream;

/** A one-line progress bar on stderr: step, seconds per iteration, ETA. */
public final class Progress {
    private final PrintStream out;
    private final String label;
    private final int total;
    private final long start = System.nanoTime();
    private final boolean terminal = System.console() != null;

    public Progress(PrintStream out, String label, int total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    public void step(int done) {
        if (out == null) return;
        double elapsed = (System.nanoTime() - start) / 1e9;
        double perStep = elapsed / Math.max(1, done);
        double eta = perStep * (total - done);
        int width = 24, filled = (int) Math.round(width * (double) done / total);
        String bar = "#".repeat(filled) + " ".repeat(width - filled);
        String line = String.format("%s %d/%d |%s| %.2f s/it, ETA %s", label, done, total, bar, perStep, clock(eta));
        if (terminal) out.print("\r" + line + (done == total ? "\n" : ""));
        else out.println(line);
        out.flush();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format("%02d:%02d", s / 60, s % 60);
    }
}
