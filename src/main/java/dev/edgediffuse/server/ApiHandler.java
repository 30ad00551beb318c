package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Routes, bearer-token check, body limit, and the one place errors become responses: JSON
 * {@code {"error": {"message", "code"}}}, never a stack trace.
 */
final class ApiHandler extends Handler.Abstract {
    private final EdgeServer server;
    private final EdgeServer.Options options;
    private final PrintStream log;
    private final byte[] keyBytes;
    /** Request attribute: the handler has read the whole body. */
    private static final String BODY_READ = "edgediffuse.body-read";

    ApiHandler(EdgeServer server, EdgeServer.Options options, PrintStream log) {
        this.server = server;
        this.options = options;
        this.log = log;
        this.keyBytes = options.apiKey() == null ? null : options.apiKey().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public boolean handle(Request req, Response res, Callback done) {
        org.eclipse.jetty.io.Connection connection = req.getConnectionMetaData().getConnection();
        // the request's deadline runs until its body is in; the next request's starts when this response is done
        if (!hasBody(req)) server.deadlines.disarm(connection);
        Callback cb = Callback.from(() -> {
            done.succeeded();
            server.deadlines.arm(connection);
        }, done::failed);
        try {
            route(req, res, cb);
        } catch (ApiError e) {
            closeIfBodyUnread(req, res);
            error(res, cb, e);
        } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
            log.println("edgediffuse serve: " + req.getMethod() + " " + Request.getPathInContext(req) + " failed: " + e);
            closeIfBodyUnread(req, res);
            error(res, cb, new ApiError(500, "internal error"));
        }
        return true;
    }

    /**
     * An error answered before the request body was read (a wrong key, a too-large body) ends the connection, and
     * says so: the server will not read a body it refused, and a client that reused the connection would otherwise
     * race its close and see the next request fail with no response at all.
     */
    private static void closeIfBodyUnread(Request req, Response res) {
        if (hasBody(req) && req.getAttribute(BODY_READ) == null && !res.isCommitted()) res.getHeaders().put(HttpHeader.CONNECTION, "close");
    }

    private static boolean hasBody(Request req) {
        return req.getHeaders().contains(HttpHeader.TRANSFER_ENCODING) || req.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH) > 0;
    }

    private void route(Request req, Response res, Callback cb) {
        String path = Request.getPathInContext(req), method = req.getMethod();
        if (path.equals("/health")) {
            only("GET", method);
            // up or down for anyone (load balancers, probes); what is loaded and how busy only with the key
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("status", server.stopping ? "stopping" : "ok");
            if (authorized(req)) {
                m.put("models", new ArrayList<>(server.models().keySet()));
                m.put("in_flight", (long) server.admission.inFlight());
                m.put("capacity", (long) server.admission.capacity());
            }
            json(res, cb, server.stopping ? 503 : 200, m);
            return;
        }
        if (WebPage.serves(path)) {
            only("GET", method);
            WebPage.send(path, res, cb);
            return;
        }
        authorize(req);
        switch (path) {
            case "/v1/models" -> {
                only("GET", method);
                List<Object> data = new ArrayList<>();
                for (var e : server.models().entrySet()) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("id", e.getKey());
                    m.put("object", "model");
                    m.put("owned_by", "edgediffuse");
                    m.put("defaults", defaults(e.getValue()));
                    data.add(m);
                }
                json(res, cb, 200, Map.of("object", "list", "data", data));
            }
            case "/sdapi/v1/sd-models" -> {
                only("GET", method);
                List<Object> data = new ArrayList<>();
                for (String name : server.models().keySet()) data.add(Map.of("title", name, "model_name", name));
                json(res, cb, 200, data);
            }
            case "/v1/hybrid/denoise" -> {
                only("POST", method);
                HybridEndpoint.handle(this, req, res, cb, body(req));
            }
            case "/sdapi/v1/txt2img" -> {
                only("POST", method);
                ImageEndpoints.a1111(this, req, res, cb, body(req));
            }
            case "/v1/images/generations" -> {
                only("POST", method);
                ImageEndpoints.openAi(this, req, res, cb, body(req));
            }
            case "/v1/images/stream" -> {
                only("POST", method);
                ProgressStream.handle(this, req, res, cb, body(req));
            }
            default -> throw new ApiError(404, "no such endpoint: " + path);
        }
    }

    /** What a client (the web page) needs to fill its form: the model's sampling defaults and DeepCache's branches. */
    private static Map<String, Object> defaults(Batcher model) {
        var d = model.denoiser.samplingDefaults();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("size", (long) model.denoiser.defaultImageSize());
        m.put("steps", (long) d.steps());
        m.put("cfg_scale", (double) d.cfg());
        m.put("sampler", d.scheduler());
        m.put("deepcache_branches", (long) model.denoiser.unet().skipConnections());
        return m;
    }

    EdgeServer server() {
        return server;
    }

    long limitsTimeoutNanos() {
        return options.timeout().toNanos();
    }

    Limits limits() {
        return options.limits();
    }

    private static void only(String allowed, String method) {
        if (!allowed.equals(method)) throw new ApiError(405, "method " + method + " not allowed; use " + allowed);
    }

    private boolean authorized(Request req) {
        try {
            authorize(req);
            return true;
        } catch (ApiError e) {
            return false;
        }
    }

    private void authorize(Request req) {
        if (keyBytes == null) return;
        String h = req.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new ApiError(401, "missing API key: send 'Authorization: Bearer <key>'");
        }
        byte[] given = h.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, keyBytes)) throw new ApiError(401, "invalid API key");
    }

    private byte[] body(Request req) {
        int max = options.limits().maxBodyBytes();
        long declared = req.getLength();
        if (declared > max) throw new ApiError(413, "request body is " + declared + " bytes; the limit is " + max);
        try (InputStream in = Request.asInputStream(req)) {
            byte[] b = in.readNBytes(max + 1);
            if (b.length > max) throw new ApiError(413, "request body exceeds the limit of " + max + " bytes");
            req.setAttribute(BODY_READ, Boolean.TRUE);
            server.deadlines.disarm(req.getConnectionMetaData().getConnection());
            return b;
        } catch (IOException e) {
            throw new ApiError(400, "could not read the request body");
        }
    }

    /**
     * Admits the jobs, submits them to the model's batcher, and waits for all of them; cancels them when the client
     * disconnects or the per-request timeout passes. Returns them finished, or throws the first job's error.
     */
    List<Job> run(Request req, Response res, Batcher model, List<Job> jobs) {
        server.admission.enter(jobs.size());
        long t0 = System.nanoTime();
        boolean ok = false;
        try {
            req.addFailureListener(failure -> jobs.forEach(j -> j.cancel("client disconnected")));
            for (Job j : jobs) model.submit(j);
            long deadline = System.nanoTime() + options.timeout().toNanos() + TimeUnit.SECONDS.toNanos(2);
            ClientProbe probe = new ClientProbe(req, res);
            for (Job j : jobs) {
                while (true) {
                    try {
                        long left = deadline - System.nanoTime();
                        if (left <= 0) throw new TimeoutException();
                        j.done.get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)), TimeUnit.NANOSECONDS);
                        break;
                    } catch (TimeoutException e) {
                        if (deadline - System.nanoTime() <= 0) {
                            jobs.forEach(x -> x.cancel("timed out"));
                            throw new ApiError(504, "request timed out on the server");
                        }
                        if (probe.gone()) {
                            jobs.forEach(x -> x.cancel("client disconnected"));
                            throw new ApiError(499, "client disconnected");
                        }
                    } catch (ExecutionException e) {
                        jobs.forEach(x -> x.cancel("failed"));
                        if (e.getCause() instanceof ApiError a) throw a;
                        throw new ApiError(500, "internal error");
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        jobs.forEach(x -> x.cancel("server stopping"));
                        throw new ApiError(503, "server is shutting down", 5);
                    }
                }
            }
            ok = true;
            return jobs;
        } finally {
            server.admission.leave(jobs.size(), ok ? (System.nanoTime() - t0) / 1e9 / jobs.size() : 0);
        }
    }

    static void json(Response res, Callback cb, int status, Object body) {
        send(res, cb, status, "application/json", Json.write(body).getBytes(StandardCharsets.UTF_8));
    }

    static void send(Response res, Callback cb, int status, String type, byte[] body) {
        res.setStatus(status);
        res.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
        res.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        res.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        res.write(true, ByteBuffer.wrap(body), cb);
    }

    private static void error(Response res, Callback cb, ApiError e) {
        if (res.isCommitted()) {
            cb.failed(e);
            return;
        }
        if (e.retryAfterSeconds > 0) res.getHeaders().put(HttpHeader.RETRY_AFTER, e.retryAfterSeconds);
        if (e.status == 401) res.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("message", e.getMessage());
        err.put("code", (long) e.status);
        json(res, cb, e.status == 499 ? 400 : e.status, Map.of("error", err));
    }
}
