package dev.edgediffuse.cli;

import dev.edgediffuse.kernels.Parallel;
import picocli.CommandLine.Option;

/** --threads: the kernels' worker threads. */
final class ThreadsOption {
    @Option(names = "--threads", paramLabel = "N", description = "worker threads for the math (default: all cores)")
    private Integer threads;

    /** Sets the worker threads if --threads was given. */
    void apply() {
        if (threads == null) return;
        if (threads < 1) throw new UsageException("--threads must be >= 1, got " + threads);
        Parallel.setThreads(threads);
    }
}
