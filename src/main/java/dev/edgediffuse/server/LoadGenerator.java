package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.hybrid.Handoff;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bounded load test: {@code clients} threads share {@code requests} requests against a loopback server. Every
 * request ends as ok (a valid image or handoff), a clear error (an HTTP error status with a JSON error message,
 * 503 with Retry-After), or a failure (connection error, timeout, garbage) — the test passes when there are none.
 */
public final class LoadGenerator {
    private LoadGenerator() {}

    /**
     * @param retries how often a client repeats a request that may be repeated: one refused for load (503, honouring
     *                Retry-After up to 2 s), one a proxy could not place (502), or one whose connection failed. Every
     *                request names its seed, so a repeat computes the same image: nothing is done twice in effect.
     */
    public record Plan(String endpoint, int clients, int requests, int steps, int split, int width, int height, Duration timeout,
                       int retries) {
        public Plan(String endpoint, int clients, int requests, int steps, int split, int width, int height, Duration timeout) {
            this(endpoint, clients, requests, steps, split, width, height, timeout, 0);
        }
    }

    /** @param retried why requests were repeated (a status, or the connection error's kind), and how often */
    public record Report(Plan plan, double seconds, int ok, Map<Integer, Integer> clearErrors, int failures,
                         List<String> failureSamples, double[] latencyMs, Map<String, Integer> retried) {
        public double throughput() {
            return ok / seconds;
        }

        public double percentile(double p) {
            if (latencyMs.length == 0) return 0;
            double[] s = latencyMs.clone();
            Arrays.sort(s);
            int i = (int) Math.ceil(p / 100 * s.length) - 1;
            return s[Math.max(0, Math.min(s.length - 1, i))];
        }

        public String summary() {
            return String.format(java.util.Locale.ROOT, "loadtest: %d %s requests (%d steps, %dx%d) by %d clients in %.2f s: "
                            + "%d ok, %d clear errors %s, %d failures%s; throughput %.2f ok/s; latency ms p50 %.0f p95 %.0f p99 %.0f max %.0f",
                    plan.requests(), plan.endpoint(), plan.steps(), plan.width(), plan.height(), plan.clients(), seconds, ok,
                    clearErrors.values().stream().mapToInt(Integer::intValue).sum(), clearErrors, failures,
                    failureSamples.isEmpty() ? "" : " " + failureSamples, throughput(), percentile(50), percentile(95),
                    percentile(99), percentile(100)) + (retried.isEmpty() ? "" : "; retried " + retried);
        }
    }

    public static boolean isLoopback(String host) {
        return EdgeServer.isLoopback(host.startsWith("[") ? host.substring(1, host.length() - 1) : host);
    }

    public static Report run(URI base, String apiKey, Plan plan) {
        if (!isLoopback(base.getHost())) throw new IllegalArgumentException("load tests run against loopback servers only");
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
        AtomicInteger next = new AtomicInteger();
        ConcurrentLinkedQueue<Double> latencies = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Integer> statuses = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicInteger ok = new AtomicInteger();
        Map<String, Integer> retried = new java.util.concurrent.ConcurrentSkipListMap<>();
        long t0 = System.nanoTime();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < plan.clients(); c++) {
            threads.add(Thread.ofPlatform().name("loadtest-" + c).start(() -> {
                for (int i; (i = next.getAndIncrement()) < plan.requests(); ) {
                    long t = System.nanoTime();
                    try {
                        HttpResponse<byte[]> res = send(http, request(base, apiKey, plan, i), plan.retries(), retried);
                        double ms = (System.nanoTime() - t) / 1e6;
                        String problem = check(plan, res);
                        if (problem == null && res.statusCode() == 200) {
                            ok.incrementAndGet();
                            latencies.add(ms);
                        } else if (problem == null) {
                            statuses.add(res.statusCode());
                        } else {
                            failures.add(problem);
                        }
                    } catch (Exception e) {
                        failures.add(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
                        if (e instanceof InterruptedException) return;
                    }
                }
            }));
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<Integer, Integer> clear = new TreeMap<>();
        for (int s : statuses) clear.merge(s, 1, Integer::sum);
        List<String> samples = failures.stream().distinct().limit(3).toList();
        return new Report(plan, seconds, ok.get(), clear, failures.size(), samples,
                latencies.stream().mapToDouble(Double::doubleValue).toArray(), new TreeMap<>(retried));
    }

    /** One request, repeated up to {@code retries} times while the answer says it may be (see {@link Plan}). */
    private static HttpResponse<byte[]> send(HttpClient http, HttpRequest req, int retries, Map<String, Integer> retried)
            throws IOException, InterruptedException {
        for (int attempt = 0; ; attempt++) {
            HttpResponse<byte[]> res;
            try {
                res = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            } catch (IOException e) {
                if (attempt >= retries || e instanceof java.net.http.HttpTimeoutException) throw e;
                retried.merge(e.getClass().getSimpleName(), 1, Integer::sum);
                Thread.sleep(100);
                continue;
            }
            int status = res.statusCode();
            if (attempt >= retries || (status != 502 && status != 503)) return res;
            retried.merge(String.valueOf(status), 1, Integer::sum);
            long wait = res.headers().firstValueAsLong("Retry-After").orElse(1);
            Thread.sleep(Math.min(2000, Math.max(100, wait * 1000)));
        }
    }

    private static HttpRequest request(URI base, String apiKey, Plan plan, int i) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt", "load test image " + i);
        m.put("negative_prompt", "blurry");
        m.put("seed", (long) i);
        m.put("steps", (long) plan.steps());
        String path;
        switch (plan.endpoint()) {
            case "openai" -> {
                path = "/v1/images/generations";
                m.put("size", plan.width() + "x" + plan.height());
            }
            case "hybrid" -> {
                path = "/v1/hybrid/denoise";
                m.put("width", (long) plan.width());
                m.put("height", (long) plan.height());
                m.put("split", (long) plan.split());
                m.put("nonce", "n" + i);
            }
            default -> {
                path = "/sdapi/v1/txt2img";
                m.put("width", (long) plan.width());
                m.put("height", (long) plan.height());
            }
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(plan.timeout())
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(Json.write(m)));
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        return b.build();
    }

    /** null when the response is a valid answer or a clear error; otherwise what is wrong with it. */
    private static String check(Plan plan, HttpResponse<byte[]> res) {
        String text = new String(res.body(), java.nio.charset.StandardCharsets.UTF_8);
        if (res.statusCode() != 200) {
            if (!text.contains("\"error\"") || !text.contains("\"message\"")) return "status " + res.statusCode() + " without a JSON error";
            if (res.statusCode() == 503 && res.headers().firstValue("Retry-After").isEmpty()) return "503 without Retry-After";
            return null;
        }
        try {
            if (plan.endpoint().equals("hybrid")) {
                Handoff h = Handoff.decode(res.body());
                return h.split() == plan.split() ? null : "handoff for the wrong split";
            }
            return text.contains(plan.endpoint().equals("openai") ? "\"b64_json\":\"iVBOR" : "\"images\":[\"iVBOR") ? null : "200 without a PNG";
        } catch (Handoff.BadPayload e) {
            return "bad handoff: " + e.getMessage();
        }
    }
}
