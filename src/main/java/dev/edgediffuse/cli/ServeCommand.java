package dev.edgediffuse.cli;

import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.Limits;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/** edgediffuse serve: the HTTP server (hybrid handoffs, A1111 and OpenAI image endpoints) until stopped. */
@Command(name = "serve", sortOptions = false, description = "HTTP server: hybrid handoffs, A1111 / OpenAI image endpoints",
        footer = {"%nWithout --model it serves the built-in mini as \"mini\". Endpoints: GET /health, GET /v1/models,",
                "GET /sdapi/v1/sd-models, POST /v1/hybrid/denoise, POST /sdapi/v1/txt2img, POST /v1/images/generations,",
                "POST /v1/images/stream (progress as server-sent events). A web page at / makes images through them."})
final class ServeCommand extends CliCommand {
    @Mixin
    private ServedModels models;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = "127.0.0.1", description = "bind address (default ${DEFAULT-VALUE})")
    private String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "7860", description = "(default ${DEFAULT-VALUE}; 0 picks a free port)")
    private int port;

    @Option(names = "--api-key-env", paramLabel = "VAR", defaultValue = ApiKeyOptions.DEFAULT_ENV,
            description = "environment variable holding the bearer token clients must send (default ${DEFAULT-VALUE})")
    private String apiKeyEnv;

    @Option(names = "--no-auth", description = "no API key; allowed only on a loopback --host")
    private boolean noAuth;

    @Option(names = "--tls-keystore", paramLabel = "FILE", description = "serve HTTPS with this PKCS12/JKS keystore (password: $EDGEDIFFUSE_TLS_PASSWORD)")
    private Path keystore;

    @Option(names = "--timeout", paramLabel = "S", defaultValue = "300", description = "per-request limit in seconds (default ${DEFAULT-VALUE})")
    private int timeout;

    @Option(names = "--read-deadline", paramLabel = "S", defaultValue = "30", description = "a request's head and body must "
            + "arrive within S seconds of the connection opening or of its previous response; slower clients are "
            + "disconnected (default ${DEFAULT-VALUE})")
    private double readDeadline;

    @Option(names = "--max-steps", paramLabel = "N", defaultValue = "150", description = "request limit (default ${DEFAULT-VALUE})")
    private int maxSteps;

    @Option(names = "--max-size", paramLabel = "PX", defaultValue = "1024", description = "request limit on width and height (default ${DEFAULT-VALUE})")
    private int maxSize;

    @Option(names = "--max-prompt", paramLabel = "CHARS", defaultValue = "2000", description = "request limit (default ${DEFAULT-VALUE})")
    private int maxPrompt;

    @Option(names = "--max-body", paramLabel = "BYTES", defaultValue = "65536", description = "request limit (default ${DEFAULT-VALUE})")
    private int maxBody;

    @Option(names = "--max-images", paramLabel = "N", defaultValue = "4", description = "images per request (default ${DEFAULT-VALUE})")
    private int maxImages;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) {
        EdgeServer.Options o = options();
        Map<String, Path> paths = models.paths(err);
        threads.apply();
        EdgeServer server = models.start(paths, o, err);
        out.println("edgediffuse serve: listening on " + server.uri() + " (models: " + String.join(", ", paths.keySet())
                + (o.noAuth() ? "; no API key" : "; bearer token required") + ")");
        Thread closeOnExit = new Thread(server::close);
        Runtime.getRuntime().addShutdownHook(closeOnExit);
        try {
            new CountDownLatch(1).await(); // serves until the process is stopped (the hook closes the server)
        } catch (InterruptedException e) {
            // or until this thread is interrupted, as tests do
            Runtime.getRuntime().removeShutdownHook(closeOnExit);
            server.close();
        }
        return 0;
    }

    private EdgeServer.Options options() {
        String key = null;
        if (!noAuth) {
            key = System.getenv(apiKeyEnv);
            if (key == null) throw new UsageException("$" + apiKeyEnv + " is not set: give the API key there, or --no-auth on loopback");
        }
        if (timeout < 1) throw new UsageException("--timeout must be >= 1 second");
        if (maxSize < 8 || maxSize > GenerateRequest.MAX_SIDE) throw new UsageException("--max-size must be in 8.." + GenerateRequest.MAX_SIDE + ", got " + maxSize);
        Limits l = new Limits(maxSize, maxSteps, maxPrompt, maxBody, maxImages);
        if (!(readDeadline >= 0.1) || readDeadline > 3600) throw new UsageException("--read-deadline must be in [0.1, 3600] seconds");
        return new EdgeServer.Options(host, port, key, noAuth, keystore, System.getenv().getOrDefault("EDGEDIFFUSE_TLS_PASSWORD", ""),
                models.queue, models.maxBatch, Duration.ofSeconds(timeout), l, Duration.ofMillis((long) (readDeadline * 1000)));
    }
}
