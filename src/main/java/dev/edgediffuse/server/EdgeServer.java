package dev.edgediffuse.server;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.pipeline.Denoiser;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;

import java.io.PrintStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code edgediffuse serve}: loaded models behind Jetty 12 (HTTP/1.1, optional TLS). Admission is bounded
 * ({@code queueCapacity} images waiting or running, over all models); beyond it requests get 503 with Retry-After.
 */
public final class EdgeServer implements AutoCloseable {
    /**
     * @param apiKey        bearer token clients must send; null only with {@code noAuth}
     * @param noAuth        no API key (allowed only when bound to a loopback address)
     * @param keystore      PKCS12/JKS keystore for TLS, or null for plain HTTP
     * @param queueCapacity images admitted at once (waiting + running)
     * @param maxBatch      sessions per UNet call
     * @param timeout       per-request limit (queue + compute)
     */
    public record Options(String host, int port, String apiKey, boolean noAuth, Path keystore, String keystorePassword,
                          int queueCapacity, int maxBatch, Duration timeout, Limits limits, Duration readDeadline) {
        /** A request's head and body must arrive within this (see {@link ReadDeadlines}). */
        public static final Duration READ_DEADLINE = Duration.ofSeconds(30);

        public Options(String host, int port, String apiKey, boolean noAuth, Path keystore, String keystorePassword,
                       int queueCapacity, int maxBatch, Duration timeout, Limits limits) {
            this(host, port, apiKey, noAuth, keystore, keystorePassword, queueCapacity, maxBatch, timeout, limits, READ_DEADLINE);
        }

        public static Options loopback(String apiKey) {
            return new Options("127.0.0.1", 0, apiKey, apiKey == null, null, null, 16, 4, Duration.ofMinutes(5), Limits.DEFAULT);
        }

        public Options withQueue(int capacity, int batch) {
            return new Options(host, port, apiKey, noAuth, keystore, keystorePassword, capacity, batch, timeout, limits, readDeadline);
        }

        public Options withTimeout(Duration t) {
            return new Options(host, port, apiKey, noAuth, keystore, keystorePassword, queueCapacity, maxBatch, t, limits, readDeadline);
        }

        public Options withLimits(Limits l) {
            return new Options(host, port, apiKey, noAuth, keystore, keystorePassword, queueCapacity, maxBatch, timeout, l, readDeadline);
        }

        public Options withTls(Path ks, String password) {
            return new Options(host, port, apiKey, noAuth, ks, password, queueCapacity, maxBatch, timeout, limits, readDeadline);
        }

        public Options withReadDeadline(Duration d) {
            return new Options(host, port, apiKey, noAuth, keystore, keystorePassword, queueCapacity, maxBatch, timeout, limits, d);
        }
    }

    private final Options options;
    private final Map<String, Batcher> models = new LinkedHashMap<>();
    private final Server jetty;
    private final ServerConnector connector;
    final Admission admission;
    final ReadDeadlines deadlines;
    volatile boolean stopping;

    private EdgeServer(Map<String, Denoiser> loaded, Options o, PrintStream log) {
        this.options = o;
        loaded.forEach((name, d) -> models.put(name, new Batcher(name, d, o.maxBatch(), log)));
        this.admission = new Admission(o.queueCapacity(), o.maxBatch());
        QueuedThreadPool pool = new QueuedThreadPool(Math.max(16, 2 * o.queueCapacity() + 8), 4);
        pool.setName("edgediffuse-http");
        pool.setDaemon(true);
        ScheduledExecutorScheduler scheduler = new ScheduledExecutorScheduler("edgediffuse-deadlines", true);
        jetty = new Server(pool, scheduler, null);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        http.setRequestHeaderSize(16 * 1024);
        ConnectionFactory[] factories;
        if (o.keystore() != null) {
            SslContextFactory.Server ssl = new SslContextFactory.Server();
            ssl.setKeyStorePath(o.keystore().toAbsolutePath().toString());
            ssl.setKeyStorePassword(o.keystorePassword() == null ? "" : o.keystorePassword());
            http.addCustomizer(new SecureRequestCustomizer(false));
            factories = new ConnectionFactory[]{new SslConnectionFactory(ssl, "http/1.1"), new HttpConnectionFactory(http)};
        } else {
            factories = new ConnectionFactory[]{new HttpConnectionFactory(http)};
        }
        connector = new ServerConnector(jetty, 1, 1, factories);
        connector.setHost(o.host());
        connector.setPort(o.port());
        connector.setIdleTimeout(o.timeout().toMillis() + 30_000);
        deadlines = new ReadDeadlines(scheduler, o.readDeadline().toMillis(), log);
        connector.addBean(deadlines);
        jetty.addConnector(connector);
        ErrorHandler errors = new ErrorHandler();
        errors.setShowStacks(false);
        errors.setShowMessageInTitle(false);
        jetty.setErrorHandler(errors);
        jetty.setHandler(new ApiHandler(this, o, log));
        jetty.setStopTimeout(1000);
    }

    /** Checks the options and starts listening; the models are handed over and closed with the server. */
    public static EdgeServer start(Map<String, Denoiser> models, Options o, PrintStream log) {
        if (models.isEmpty()) throw new IllegalArgumentException("--model name=path is required (at least one)");
        if (o.noAuth()) {
            if (!isLoopback(o.host())) {
                throw new IllegalArgumentException("--no-auth is allowed only on a loopback address, not " + o.host());
            }
        } else if (o.apiKey() == null || o.apiKey().length() < 8) {
            throw new IllegalArgumentException("an API key of at least 8 characters is required (--api-key-env VAR or "
                    + "EDGEDIFFUSE_API_KEY), or --no-auth on loopback");
        }
        if (o.keystore() != null && !Files.isRegularFile(o.keystore())) {
            throw new IllegalArgumentException("--tls-keystore " + o.keystore() + ": file not found");
        }
        if (o.queueCapacity() < 1 || o.maxBatch() < 1) throw new IllegalArgumentException("--queue and --max-batch must be >= 1");
        if (o.readDeadline().toMillis() < 100) throw new IllegalArgumentException("the read deadline must be at least 0.1 s");
        EdgeServer s = new EdgeServer(models, o, log);
        try {
            s.jetty.start();
        } catch (Exception e) {
            s.close();
            String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new IllegalStateException("cannot start the server on " + o.host() + ":" + o.port() + ": " + why);
        }
        return s;
    }

    static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    public int port() {
        return connector.getLocalPort();
    }

    public URI uri() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create((options.keystore() != null ? "https" : "http") + "://" + host + ":" + port());
    }

    Map<String, Batcher> models() {
        return models;
    }

    /**
     * The named model, or the first loaded when {@code name} is null. A built-in model's short name also finds it when
     * it is served under another name ({@code serve --model fast=mini}, then {@code "model": "mini"}). 404 naming the
     * loaded ones otherwise.
     */
    Batcher model(String name) {
        if (name == null || name.isEmpty()) return models.values().iterator().next();
        Batcher b = models.get(name);
        if (b == null) b = servedBuiltIn(name);
        if (b == null) throw new ApiError(404, "model '" + name + "' is not loaded; loaded: " + String.join(", ", models.keySet()));
        return b;
    }

    /** The model loaded from the built-in one of this short name, or null; a checkpoint is named after its folder. */
    private Batcher servedBuiltIn(String name) {
        BuiltInModel builtIn = BuiltInModel.named(name);
        if (builtIn == null) return null;
        for (Batcher b : models.values()) if (b.denoiser.modelName().equals(builtIn.name())) return b;
        return null;
    }

    @Override
    public void close() {
        stopping = true;
        try {
            jetty.stop();
        } catch (Exception ignored) {
            // stopping is best effort; the workers are closed below either way
        }
        for (Batcher b : models.values()) {
            b.close();
            b.denoiser.close();
        }
    }
}
