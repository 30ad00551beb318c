package dev.edgediffuse.cli;

import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.LoadGenerator;

import java.io.PrintStream;
import java.net.URI;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

/** edgediffuse loadtest: N concurrent clients, a fixed number of requests, loopback only. */
final class LoadtestCommand {
    static final String HELP = """
            usage: edgediffuse loadtest (--url http://127.0.0.1:PORT | --model NAME=PATH ...) [options]
              --url URL              a running loopback server (its key from --api-key-env, default EDGEDIFFUSE_API_KEY)
              --model NAME=PATH      or start a server in this process on 127.0.0.1 with these models
              --clients N            concurrent clients (default 4)
              --requests N           requests in all (default 20)
              --endpoint E           txt2img | openai | hybrid (default txt2img)
              --steps N --split K    denoising steps (default 4); hybrid: server steps (default steps/2)
              --width W --height H   (default 64x64)
              --queue N --max-batch N  for the in-process server (default 16, 4)
              --timeout S            per-request client timeout (default 300)""";

    private static final Set<String> VALUED = Set.of("--url", "--model", "--clients", "--requests", "--endpoint", "--steps",
            "--split", "--width", "--height", "--queue", "--max-batch", "--timeout", "--api-key-env", "--threads");

    private LoadtestCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, VALUED, Set.of());
        int clients = a.getInt("--clients", 4), requests = a.getInt("--requests", 20), steps = a.getInt("--steps", 4);
        if (clients < 1 || clients > 256) throw new Args.UsageException("--clients must be in 1..256");
        if (requests < 1) throw new Args.UsageException("--requests must be >= 1");
        String endpoint = a.get("--endpoint", "txt2img");
        if (!List.of("txt2img", "openai", "hybrid").contains(endpoint)) throw new Args.UsageException("--endpoint must be txt2img, openai or hybrid");
        if (a.has("--url") == a.has("--model")) throw new Args.UsageException("give either --url or --model");
        if (a.has("--threads")) dev.edgediffuse.kernels.Parallel.setThreads(a.getInt("--threads", 1));
        LoadGenerator.Plan plan = new LoadGenerator.Plan(endpoint, clients, requests, steps, a.getInt("--split", Math.max(1, steps / 2)),
                a.getInt("--width", 64), a.getInt("--height", 64), Duration.ofSeconds(a.getInt("--timeout", 300)));
        EdgeServer server = null;
        try {
            URI url;
            String key;
            if (a.has("--url")) {
                url = URI.create(a.get("--url", ""));
                if (url.getHost() == null || !LoadGenerator.isLoopback(url.getHost())) {
                    throw new Args.UsageException("--url must point at a loopback address (127.0.0.1, ::1, localhost)");
                }
                key = HybridGenerate.apiKey(a);
            } else {
                key = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
                EdgeServer.Options o = EdgeServer.Options.loopback(key).withQueue(a.getInt("--queue", 16), a.getInt("--max-batch", 4));
                server = ServeCommand.start(ServeCommand.models(a.getAll("--model")), o, err);
                url = server.uri();
                err.println("loadtest: started a server on " + url);
            }
            LoadGenerator.Report r = LoadGenerator.run(url, key, plan);
            out.println(r.summary());
            return r.failures() == 0 ? 0 : 1;
        } finally {
            if (server != null) server.close();
        }
    }
}
