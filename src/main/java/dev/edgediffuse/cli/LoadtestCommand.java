package dev.edgediffuse.cli;

import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.LoadGenerator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.URI;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;

/** edgediffuse loadtest: N concurrent clients, a fixed number of requests, loopback only. */
@Command(name = "loadtest", sortOptions = false,
        description = "N concurrent clients against a loopback server (--url, or --model to start one in this process); "
                + "throughput and latency percentiles")
final class LoadtestCommand extends CliCommand {
    @Option(names = "--url", paramLabel = "URL", description = "a running loopback server, e.g. http://127.0.0.1:7860")
    private String url;

    @Mixin
    private ApiKeyOptions apiKey;

    @Mixin
    private ServedModels models;

    @Option(names = "--clients", paramLabel = "N", defaultValue = "4", description = "concurrent clients (default ${DEFAULT-VALUE})")
    private int clients;

    @Option(names = "--requests", paramLabel = "N", defaultValue = "20", description = "requests in all (default ${DEFAULT-VALUE})")
    private int requests;

    @Option(names = "--endpoint", paramLabel = "E", defaultValue = "txt2img", description = "txt2img | openai | hybrid (default ${DEFAULT-VALUE})")
    private String endpoint;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "4", description = "denoising steps (default ${DEFAULT-VALUE})")
    private int steps;

    @Option(names = "--split", paramLabel = "K", description = "hybrid: the server's steps (default: half the steps)")
    private Integer split;

    @Option(names = "--width", paramLabel = "W", defaultValue = "64", description = "(default ${DEFAULT-VALUE})")
    private int width;

    @Option(names = "--height", paramLabel = "H", defaultValue = "64", description = "(default ${DEFAULT-VALUE})")
    private int height;

    @Option(names = "--timeout", paramLabel = "S", defaultValue = "300", description = "per-request client timeout in seconds (default ${DEFAULT-VALUE})")
    private int timeout;

    @Option(names = "--retries", paramLabel = "N", defaultValue = "0", description = "repeat a request refused for load (503, "
            + "after its Retry-After), unplaced by a proxy (502) or whose connection failed, up to N times (default ${DEFAULT-VALUE}); "
            + "requests name their seeds, so a repeat computes the same image")
    private int retries;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) {
        if (clients < 1 || clients > 256) throw new UsageException("--clients must be in 1..256");
        if (requests < 1) throw new UsageException("--requests must be >= 1");
        if (!List.of("txt2img", "openai", "hybrid").contains(endpoint)) throw new UsageException("--endpoint must be txt2img, openai or hybrid");
        if ((url != null) == models.given()) throw new UsageException("give either --url or --model");
        threads.apply();
        if (retries < 0 || retries > 100) throw new UsageException("--retries must be in 0..100");
        LoadGenerator.Plan plan = new LoadGenerator.Plan(endpoint, clients, requests, steps, split != null ? split : Math.max(1, steps / 2),
                width, height, Duration.ofSeconds(timeout), retries);
        EdgeServer server = null;
        try {
            URI target;
            String key;
            if (url != null) {
                target = URI.create(url);
                if (target.getHost() == null || !LoadGenerator.isLoopback(target.getHost())) {
                    throw new UsageException("--url must point at a loopback address (127.0.0.1, ::1, localhost)");
                }
                key = apiKey.key();
            } else {
                key = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
                EdgeServer.Options o = EdgeServer.Options.loopback(key).withQueue(models.queue, models.maxBatch);
                server = models.start(models.paths(err), o, err);
                target = server.uri();
                err.println("loadtest: started a server on " + target);
            }
            LoadGenerator.Report r = LoadGenerator.run(target, key, plan);
            out.println(r.summary());
            return r.failures() == 0 ? 0 : 1;
        } finally {
            if (server != null) server.close();
        }
    }
}
