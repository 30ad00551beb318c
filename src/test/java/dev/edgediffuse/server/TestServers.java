package dev.edgediffuse.server;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.DType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Tiny random checkpoints and real loopback servers for the server and hybrid tests. */
public final class TestServers {
    public static final String KEY = "test-key-0123456789";
    public static final ByteArrayOutputStream LOG = new ByteArrayOutputStream();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private TestServers() {}

    /** A tiny diffusers folder (written once per dir and seed). */
    public static Path model(Path dir, long seed) throws IOException {
        Path p = dir.resolve("tiny-" + seed);
        if (!Files.exists(p.resolve("model_index.json"))) RandomCheckpoint.writeFolder(p, ModelConfigs.builtIn("tiny"), DType.F32, seed);
        return p;
    }

    /** A loopback server with the given name → folder models. */
    public static EdgeServer start(Map<String, Path> models, EdgeServer.Options o) {
        Map<String, Denoiser> loaded = new LinkedHashMap<>();
        models.forEach((n, p) -> loaded.put(n, Denoiser.load(p, Pipeline.Options.DEFAULT)));
        return EdgeServer.start(loaded, o, new PrintStream(LOG, true));
    }

    public static HttpResponse<String> post(URI base, String path, String key, String json) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    public static HttpResponse<byte[]> postBytes(URI base, String path, String key, String json) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    public static HttpResponse<String> get(URI base, String path, String key) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).GET();
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
