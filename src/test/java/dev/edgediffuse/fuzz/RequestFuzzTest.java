package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.Limits;
import dev.edgediffuse.tensor.DType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

/**
 * JSON request bodies on every POST endpoint of a real loopback server (hybrid handoff requests included), under
 * small limits so an accepted request costs milliseconds: every answer is 200 or a one-line JSON 4xx/503/504, never a 500
 * (a progress stream's 200 ends with its image or such an error as its last event).
 */
class RequestFuzzTest {
    static final String KEY = "fuzz-key-0123456789";
    private static final String[] ENDPOINTS = {"/sdapi/v1/txt2img", "/v1/images/generations", "/v1/hybrid/denoise", "/v1/images/stream"};
    private static final Set<Integer> ALLOWED = Set.of(200, 400, 404, 413, 503, 504); // 504: the server's own timeout, a JSON error
    private static EdgeServer server;
    private static HttpClient http;

    private static synchronized EdgeServer server() {
        if (server == null) {
            try {
                Path dir = Files.createTempDirectory("edgediffuse-fuzz-server").resolve("tiny");
                RandomCheckpoint.writeFolder(dir, ModelConfigs.builtIn("tiny"), DType.F32, 7);
                server = EdgeServer.start(Map.of("tiny", Denoiser.load(dir, Pipeline.Options.DEFAULT)),
                        EdgeServer.Options.loopback(KEY).withLimits(new Limits(64, 2, 200, 64 * 1024, 2)).withTimeout(Duration.ofSeconds(20)),
                        new PrintStream(new ByteArrayOutputStream()));
                http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return server;
    }

    @FuzzTest(maxDuration = "30s")
    void post(FuzzedDataProvider data) throws Exception {
        EdgeServer s = server();
        String endpoint = data.pickValue(ENDPOINTS);
        byte[] body = data.consumeRemainingAsBytes();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(s.uri().resolve(endpoint)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
        if (!ALLOWED.contains(r.statusCode())) throw new AssertionError(endpoint + " answered " + r.statusCode() + ": " + r.body());
        String type = r.headers().firstValue("Content-Type").orElse("");
        if (r.statusCode() == 200 && endpoint.endsWith("stream")) {
            if (!type.startsWith("text/event-stream")) throw new AssertionError(endpoint + " answered " + type);
            String last = r.body().substring(r.body().lastIndexOf("event: "));
            if (!last.startsWith("event: image\n") && !(last.startsWith("event: error\n") && !last.contains("\"code\":500"))) {
                throw new AssertionError("the stream ended with neither its image nor a 4xx/503/504 error: " + last);
            }
        } else if (r.statusCode() != 200 || !endpoint.contains("hybrid")) {
            if (!type.startsWith("application/json")) throw new AssertionError(endpoint + " answered " + type);
            Object v = Json.parse(r.body());
            if (r.statusCode() != 200 && !(v instanceof Map<?, ?> m && m.get("error") instanceof Map<?, ?> e
                    && e.get("message") instanceof String msg && !msg.contains("\n"))) {
                throw new AssertionError("not a one-line JSON error: " + r.body());
            }
        }
    }
}
