package dev.edgediffuse.cli;

import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.Limits;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/** edgediffuse serve: the HTTP server (hybrid handoffs, A1111 and OpenAI image endpoints) until stopped. */
final class ServeCommand {
    static final String HELP = """
            usage: edgediffuse serve --model NAME=PATH [--model NAME=PATH ...] [options]
              --model NAME=PATH      a model to load (diffusers folder or .safetensors); the first is the default
              --host ADDR            bind address (default 127.0.0.1)
              --port N               (default 7860; 0 picks a free port)
              --api-key-env VAR      environment variable holding the bearer token (default EDGEDIFFUSE_API_KEY)
              --no-auth              no API key; allowed only on a loopback --host
              --tls-keystore FILE    serve HTTPS with this PKCS12/JKS keystore (password: $EDGEDIFFUSE_TLS_PASSWORD)
              --queue N              images admitted at once, waiting or running (default 16); beyond: 503 + Retry-After
              --max-batch N          requests of one size denoised per UNet call (default 4)
              --timeout S            per-request limit in seconds (default 300)
              --max-steps N --max-size PX --max-prompt CHARS --max-body BYTES --max-images N
                                     request limits (defaults 150, 1024, 2000, 65536, 4)
              --threads N            worker threads for the math (default: all cores)
            endpoints: GET /health, GET /v1/models, GET /sdapi/v1/sd-models, POST /v1/hybrid/denoise,
                       POST /sdapi/v1/txt2img, POST /v1/images/generations""";

    private static final Set<String> VALUED = Set.of("--model", "--host", "--port", "--api-key-env", "--tls-keystore",
            "--queue", "--max-batch", "--timeout", "--max-steps", "--max-size", "--max-prompt", "--max-body", "--max-images",
            "--threads");

    private ServeCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, VALUED, Set.of("--no-auth"));
        EdgeServer.Options o = options(a);
        Map<String, Path> paths = models(a.getAll("--model"));
        if (a.has("--threads")) dev.edgediffuse.kernels.Parallel.setThreads(a.getInt("--threads", 1));
        EdgeServer server = start(paths, o, err);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        out.println("edgediffuse serve: listening on " + server.uri() + " (models: " + String.join(", ", paths.keySet())
                + (o.noAuth() ? "; no API key" : "; bearer token required") + ")");
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    static EdgeServer.Options options(Args a) {
        boolean noAuth = a.has("--no-auth");
        String key = null;
        if (!noAuth) {
            String var = a.get("--api-key-env", "EDGEDIFFUSE_API_KEY");
            key = System.getenv(var);
            if (key == null) throw new Args.UsageException("$" + var + " is not set: give the API key there, or --no-auth on loopback");
        }
        Limits l = new Limits(a.getInt("--max-size", 1024), a.getInt("--max-steps", 150), a.getInt("--max-prompt", 2000),
                a.getInt("--max-body", 64 * 1024), a.getInt("--max-images", 4));
        int timeout = a.getInt("--timeout", 300);
        if (timeout < 1) throw new Args.UsageException("--timeout must be >= 1 second");
        return new EdgeServer.Options(a.get("--host", "127.0.0.1"), a.getInt("--port", 7860), key, noAuth,
                a.path("--tls-keystore"), System.getenv().getOrDefault("EDGEDIFFUSE_TLS_PASSWORD", ""),
                a.getInt("--queue", 16), a.getInt("--max-batch", 4), Duration.ofSeconds(timeout), l);
    }

    /** NAME=PATH pairs (a bare PATH is named after its file or folder). */
    static Map<String, Path> models(List<String> specs) {
        if (specs.isEmpty()) throw new Args.UsageException("--model NAME=PATH is required");
        Map<String, Path> m = new LinkedHashMap<>();
        for (String s : specs) {
            int eq = s.indexOf('=');
            Path p = Path.of(eq < 0 ? s : s.substring(eq + 1));
            String name = eq < 0 ? String.valueOf(p.getFileName()).replaceFirst("\\.safetensors$", "") : s.substring(0, eq);
            if (!name.matches("[A-Za-z0-9._-]{1,64}")) throw new Args.UsageException("--model name '" + name + "' must be 1-64 of A-Z a-z 0-9 . _ -");
            if (m.put(name, p) != null) throw new Args.UsageException("--model name '" + name + "' given twice");
        }
        return m;
    }

    /** Loads the models, then starts the server (closing what was loaded if anything fails). */
    static EdgeServer start(Map<String, Path> paths, EdgeServer.Options o, PrintStream err) {
        Map<String, Denoiser> loaded = new LinkedHashMap<>();
        try {
            for (var e : paths.entrySet()) loaded.put(e.getKey(), Denoiser.load(e.getValue(), Pipeline.Options.DEFAULT));
            return EdgeServer.start(loaded, o, err);
        } catch (RuntimeException e) {
            loaded.values().forEach(Denoiser::close);
            throw e;
        }
    }
}
