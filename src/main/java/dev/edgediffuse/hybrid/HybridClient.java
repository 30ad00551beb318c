package dev.edgediffuse.hybrid;

import dev.edgediffuse.format.Json;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The device's HTTP client for {@code POST /v1/hybrid/denoise}, with one deadline over connect, wait and body. */
public final class HybridClient {
    private final URI endpoint;
    private final String apiKey;
    private final Duration deadline;
    private final HttpClient http;

    /** {@code base} like http://host:port; {@code ssl} null for the JDK's default trust. */
    public HybridClient(URI base, String apiKey, Duration deadline, SSLContext ssl) {
        String s = base.toString();
        this.endpoint = URI.create((s.endsWith("/") ? s.substring(0, s.length() - 1) : s) + "/v1/hybrid/denoise");
        this.apiKey = apiKey;
        this.deadline = deadline;
        HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(deadline.compareTo(Duration.ofSeconds(10)) < 0 ? deadline : Duration.ofSeconds(10));
        if (ssl != null) b.sslContext(ssl);
        this.http = b.build();
    }

    public URI endpoint() {
        return endpoint;
    }

    /** The server's answer and the wall time of the whole exchange. */
    public record Reply(Handoff handoff, double roundTripSeconds) {}

    public Reply denoise(HybridRequest r) throws HybridFailure {
        HttpRequest.Builder b = HttpRequest.newBuilder(endpoint).header("Content-Type", "application/json")
                .header("Accept", Handoff.CONTENT_TYPE)
                .POST(HttpRequest.BodyPublishers.ofString(r.toJson(), StandardCharsets.UTF_8));
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        long t0 = System.nanoTime();
        CompletableFuture<HttpResponse<byte[]>> f = http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        HttpResponse<byte[]> res;
        try {
            res = f.get(deadline.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new HybridFailure("server did not answer within " + seconds(deadline));
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new HybridFailure("interrupted");
        } catch (ExecutionException e) {
            throw new HybridFailure(describe(e.getCause()));
        }
        double rtt = (System.nanoTime() - t0) / 1e9;
        if (res.statusCode() != 200) throw new HybridFailure("server answered " + res.statusCode() + ": " + errorMessage(res.body()));
        String type = res.headers().firstValue("Content-Type").orElse("");
        if (!type.startsWith(Handoff.CONTENT_TYPE)) throw new HybridFailure("server answered content type '" + type + "', not a handoff");
        try {
            return new Reply(Handoff.decode(res.body()), rtt);
        } catch (Handoff.BadPayload e) {
            throw new HybridFailure(e.getMessage());
        }
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    static String describe(Throwable t) {
        if (t instanceof ConnectException) return "server unreachable (connection refused or no route)";
        if (t instanceof java.net.http.HttpConnectTimeoutException) return "server unreachable (connect timed out)";
        if (t instanceof javax.net.ssl.SSLException) return "TLS failure: " + t.getMessage();
        if (t instanceof IOException) {
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
