package dev.edgediffuse.hybrid;

import dev.edgediffuse.format.Json;

import javax.net.ssl.SSLContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The device's HTTP client for {@code POST /v1/hybrid/denoise}. Each server gets one deadline over connect, wait and
 * the whole body, and the body is capped at the size the answer can have (a server streaming without end costs the
 * device nothing but the deadline). With several servers, a failure of one moves on to the next, in the given order.
 */
public final class HybridClient implements AutoCloseable {
    /** An error answer is read only this far: its message is all the device needs. */
    static final int ERROR_BODY_BYTES = 16 << 10;

    private final List<URI> endpoints;
    private final String apiKey;
    private final Duration deadline;
    private final HttpClient http;

    /** {@code base} like http://host:port; {@code ssl} null for the JDK's default trust. */
    public HybridClient(URI base, String apiKey, Duration deadline, SSLContext ssl) {
        this(List.of(base), apiKey, deadline, ssl);
    }

    /** Several servers, tried in order; {@code deadline} applies to each. */
    public HybridClient(List<URI> bases, String apiKey, Duration deadline, SSLContext ssl) {
        if (bases.isEmpty()) throw new IllegalArgumentException("no hybrid server given");
        List<URI> e = new ArrayList<>();
        for (URI base : bases) {
            String s = base.toString();
            e.add(URI.create((s.endsWith("/") ? s.substring(0, s.length() - 1) : s) + "/v1/hybrid/denoise"));
        }
        this.endpoints = List.copyOf(e);
        this.apiKey = apiKey;
        this.deadline = deadline;
        HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(deadline.compareTo(Duration.ofSeconds(10)) < 0 ? deadline : Duration.ofSeconds(10));
        if (ssl != null) b.sslContext(ssl);
        this.http = b.build();
    }

    /** The first server's endpoint. */
    public URI endpoint() {
        return endpoints.getFirst();
    }

    public List<URI> endpoints() {
        return endpoints;
    }

    /**
     * The server's answer, which server gave it, the wall time of that exchange, and why the servers tried before it
     * failed (empty when the first answered).
     */
    public record Reply(Handoff handoff, double roundTripSeconds, URI server, List<String> failedBefore) {}

    /** Checks an answer beyond its encoding (that it answers this request); a failure moves on to the next server. */
    public interface Check {
        void accept(Handoff h) throws HybridFailure;
    }

    public Reply denoise(HybridRequest r) throws HybridFailure {
        return denoise(r, Handoff.MAX_BYTES, h -> {});
    }

    /**
     * Asks each server in turn until one answers a handoff of at most {@code maxBytes} that passes {@code check}.
     * A 4xx answer other than 408/429 is the request's fault and would repeat on every server: it ends the attempt.
     */
    public Reply denoise(HybridRequest r, long maxBytes, Check check) throws HybridFailure {
        List<String> failures = new ArrayList<>();
        for (URI endpoint : endpoints) {
            try {
                Attempt a = exchange(endpoint, r, maxBytes);
                check.accept(a.handoff);
                return new Reply(a.handoff, a.seconds, endpoint, List.copyOf(failures));
            } catch (HybridFailure e) {
                String why = endpoints.size() == 1 ? e.getMessage() : host(endpoint) + ": " + e.getMessage();
                failures.add(why);
                if (e instanceof Final) break;
            }
        }
        throw new HybridFailure(failures.size() == 1 ? failures.getFirst() : String.join("; ", failures));
    }

    private record Attempt(Handoff handoff, double seconds) {}

    /** A failure that another server would repeat. */
    private static final class Final extends HybridFailure {
        Final(String message) {
            super(message);
        }
    }

    private Attempt exchange(URI endpoint, HybridRequest r, long maxBytes) throws HybridFailure {
        HttpRequest.Builder b = HttpRequest.newBuilder(endpoint).header("Content-Type", "application/json")
                .header("Accept", Handoff.CONTENT_TYPE)
                .POST(HttpRequest.BodyPublishers.ofString(r.toJson(), StandardCharsets.UTF_8));
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        long t0 = System.nanoTime();
        Capped[] body = new Capped[1];
        CompletableFuture<HttpResponse<byte[]>> f = http.sendAsync(b.build(), info -> {
            long declared = info.headers().firstValueAsLong("Content-Length").orElse(-1);
            body[0] = info.statusCode() == 200 ? new Capped(maxBytes, true, declared) : new Capped(ERROR_BODY_BYTES, false, -1);
            return body[0];
        });
        HttpResponse<byte[]> res;
        try {
            res = f.get(deadline.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            if (body[0] != null) body[0].cancel();
            throw new HybridFailure(body[0] == null ? "server did not answer within " + seconds(deadline)
                    : "server did not finish its answer within " + seconds(deadline));
        } catch (InterruptedException e) {
            f.cancel(true);
            if (body[0] != null) body[0].cancel();
            Thread.currentThread().interrupt();
            throw new Final("interrupted");
        } catch (ExecutionException e) {
            throw new HybridFailure(describe(e.getCause()));
        }
        double rtt = (System.nanoTime() - t0) / 1e9;
        int status = res.statusCode();
        if (status != 200) {
            String why = "server answered " + status + ": " + errorMessage(res.body());
            throw status >= 400 && status < 500 && status != 408 && status != 429 ? new Final(why) : new HybridFailure(why);
        }
        String type = res.headers().firstValue("Content-Type").orElse("");
        if (!type.startsWith(Handoff.CONTENT_TYPE)) throw new HybridFailure("server answered content type '" + type + "', not a handoff");
        try {
            return new Attempt(Handoff.decode(res.body()), rtt);
        } catch (Handoff.BadPayload e) {
            throw new HybridFailure(e.getMessage());
        }
    }

    /** Raised inside the body subscriber when the answer outgrows its cap. */
    static final class TooLarge extends IOException {
        TooLarge(long cap) {
            super("answer larger than the " + cap + " bytes a handoff for this request can have", null);
        }
    }

    /**
     * Collects a body up to {@code cap} bytes: beyond it, either fails ({@code strict}, a handoff) or keeps the first
     * {@code cap} bytes and stops reading (an error message). Either way the rest is never requested.
     */
    static final class Capped implements HttpResponse.BodySubscriber<byte[]> {
        private final long cap;
        private final boolean strict;
        private final CompletableFuture<byte[]> result = new CompletableFuture<>();
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private volatile Flow.Subscription subscription;

        private final long declared;

        /** {@code declared}: the Content-Length, -1 when none was sent. */
        Capped(long cap, boolean strict, long declared) {
            this.cap = cap;
            this.strict = strict;
            this.declared = declared;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            if (strict && declared > cap) {
                s.cancel();
                result.completeExceptionally(new TooLarge(cap));
                return;
            }
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            if (result.isDone()) return;
            for (ByteBuffer item : items) {
                int n = item.remaining();
                if (bytes.size() + (long) n > cap) {
                    cancel();
                    if (strict) {
                        result.completeExceptionally(new TooLarge(cap));
                    } else {
                        byte[] part = new byte[(int) (cap - bytes.size())];
                        item.get(part);
                        bytes.writeBytes(part);
                        result.complete(bytes.toByteArray());
                    }
                    return;
                }
                byte[] chunk = new byte[n];
                item.get(chunk);
                bytes.writeBytes(chunk);
            }
        }

        @Override
        public void onError(Throwable t) {
            result.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            result.complete(bytes.toByteArray());
        }

        @Override
        public CompletionStage<byte[]> getBody() {
            return result;
        }

        void cancel() {
            Flow.Subscription s = subscription;
            if (s != null) s.cancel();
        }
    }

    /** Ends the client's connections (one a server left streaming included) and its threads. */
    @Override
    public void close() {
        http.shutdownNow();
    }

    private static String host(URI endpoint) {
        return endpoint.getHost() + (endpoint.getPort() < 0 ? "" : ":" + endpoint.getPort());
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    static String describe(Throwable t) {
        if (t instanceof TooLarge) return t.getMessage();
        if (t instanceof ConnectException) return "server unreachable (connection refused or no route)";
        if (t instanceof java.net.http.HttpConnectTimeoutException) return "server unreachable (connect timed out)";
        if (t instanceof javax.net.ssl.SSLException) return "TLS failure: " + t.getMessage();
        if (t instanceof IOException) {
            if (t.getCause() instanceof TooLarge big) return big.getMessage();
            String m = t.getMessage();
            return "connection failed" + (m == null || m.isBlank() ? " (" + t.getClass().getSimpleName() + ")" : ": " + m);
        }
        return "request failed: " + t;
    }

    /** The "message" of a JSON error body, else a short excerpt. */
    @SuppressWarnings("unchecked")
    static String errorMessage(byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8);
        try {
            Object err = ((Map<String, Object>) Json.parse(text)).get("error");
            if (err instanceof Map<?, ?> m && m.get("message") instanceof String s) return s;
        } catch (RuntimeException ignored) {
            // not our JSON; fall through to an excerpt
        }
        text = text.replaceAll("\\s+", " ").strip();
        return text.length() > 120 ? text.substring(0, 120) + "…" : text;
    }
}
