package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static dev.edgediffuse.server.ServerTest.assertError;
import static org.junit.jupiter.api.Assertions.*;

/** POST /v1/images/stream (server-sent progress, then the image) and the web page's files, on a real loopback server. */
class ProgressStreamTest {
    @TempDir
    static Path dir;
    static EdgeServer server;
    static URI url;
    static final String STREAM = "/v1/images/stream";

    @BeforeAll
    static void start() throws IOException {
        server = TestServers.start(Map.of("tiny", TestServers.model(dir, 7)), EdgeServer.Options.loopback(TestServers.KEY)
                .withLimits(new Limits(256, 150, 100, 4096, 3)));
        url = server.uri();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    record Event(String name, Map<String, Object> data) {}

    /** The events of a whole stream body, in order. */
    @SuppressWarnings("unchecked")
    static List<Event> parse(String body) {
        List<Event> out = new ArrayList<>();
        for (String block : body.split("\n\n")) {
            String name = null, data = null;
            for (String line : block.split("\n")) {
                if (line.startsWith("event: ")) name = line.substring(7);
                else if (line.startsWith("data: ")) data = line.substring(6);
                else assertTrue(line.isEmpty() || line.startsWith(":"), "an SSE field or comment: " + line);
            }
            if (name != null) out.add(new Event(name, (Map<String, Object>) Json.parse(data)));
        }
        return out;
    }

    static BufferedImage png(String base64) throws IOException {
        return ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(base64)));
    }

    @Test
    void stepsArriveInOrderThenTheSameImageTxt2imgMakes() throws Exception {
        String request = "{\"prompt\":\"a cat\",\"seed\":11,\"steps\":5,\"width\":64,\"height\":48,\"cfg_scale\":3}";
        var r = TestServers.post(url, STREAM, TestServers.KEY, request);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<Event> events = parse(r.body());
        assertEquals(1 + 5 + 1, events.size(), r.body().length() > 600 ? r.body().substring(0, 600) : r.body());
        assertEquals("queued", events.getFirst().name());
        assertEquals(11L, events.getFirst().data().get("seed"));
        assertEquals("tiny", events.getFirst().data().get("model"));
        for (int step = 1; step <= 5; step++) {
            Event e = events.get(step);
            assertEquals("progress", e.name());
            assertEquals((long) step, e.data().get("step"), "steps in order");
            assertEquals(5L, e.data().get("total"));
            String preview = (String) e.data().get("preview");
            assertTrue(preview.startsWith("data:image/png;base64,"), preview);
            BufferedImage p = png(preview.substring(preview.indexOf(',') + 1));
            assertEquals(64 / 8, p.getWidth(), "one preview pixel per latent");
            assertEquals(48 / 8, p.getHeight());
        }
        Event last = events.getLast();
        assertEquals("image", last.name());
        BufferedImage img = png((String) last.data().get("image"));
        assertEquals(64, img.getWidth());
        assertEquals(48, img.getHeight());
        assertTrue(((String) last.data().get("info")).contains("Seed: 11, Size: 64x48, Model: tiny"), (String) last.data().get("info"));
        assertEquals(11L, ((Map<?, ?>) last.data().get("parameters")).get("seed"));

        // the same request through txt2img: the same PNG bytes (same latents, same decode, same parameters text)
        var a = TestServers.post(url, "/sdapi/v1/txt2img", TestServers.KEY, request);
        assertEquals(200, a.statusCode(), a.body());
        assertEquals(((List<?>) ((Map<?, ?>) Json.parse(a.body())).get("images")).getFirst(), last.data().get("image"));
    }

    @Test
    void previewsCanBeLeftOut() throws Exception {
        var r = TestServers.post(url, STREAM, TestServers.KEY, "{\"prompt\":\"a cat\",\"seed\":1,\"steps\":2,\"width\":32,\"height\":32,\"preview\":false}");
        List<Event> events = parse(r.body());
        assertEquals(List.of("queued", "progress", "progress", "image"), events.stream().map(Event::name).toList());
        assertFalse(events.get(1).data().containsKey("preview"));
    }

    @Test
    void badRequestsAreJsonErrorsBeforeAnyEvent() throws Exception {
        String k = TestServers.KEY;
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\": "), 400, "not valid JSON");
        assertError(TestServers.post(url, STREAM, k, "{}"), 400, "prompt is required");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"steps\":0}"), 400, "steps must be in 1..150");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"width\":60}"), 400, "width must be a multiple of 8");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"batch_size\":2}"), 400, "the stream makes one image");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"preview\":\"yes\"}"), 400, "preview must be true or false");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"steps\":12,\"deepcache_interval\":1}"), 400, "deepcache_interval must be >= 2");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"token_merging_ratio\":1}"), 400, "token_merging_ratio");
        assertError(TestServers.post(url, STREAM, k, "{\"prompt\":\"x\",\"model\":\"sdxl\"}"), 404, "model 'sdxl' is not loaded");
        assertError(TestServers.get(url, STREAM, k), 405, "use POST");
    }

    @Test
    void theKeyIsEnforcedThePageItselfIsOpen() throws Exception {
        assertError(TestServers.post(url, STREAM, null, "{\"prompt\":\"x\"}"), 401, "missing API key");
        assertError(TestServers.post(url, STREAM, "not-the-key", "{\"prompt\":\"x\"}"), 401, "invalid API key");
        var page = TestServers.get(url, "/", null);
        assertEquals(200, page.statusCode());
        assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
        assertTrue(page.body().contains("<script src=\"app.js\"") && !page.body().contains(TestServers.KEY), "the page holds no key");
        assertTrue(page.headers().firstValue("Content-Security-Policy").orElse("").contains("script-src 'self'"));
        assertTrue(TestServers.get(url, "/app.js", null).body().contains("/v1/images/stream"));
        assertTrue(TestServers.get(url, "/app.css", null).headers().firstValue("Content-Type").orElse("").startsWith("text/css"));
        assertError(TestServers.post(url, "/", null, "{}"), 405, "use GET");
        // what the page fills its form from
        var models = TestServers.get(url, "/v1/models", TestServers.KEY);
        Map<?, ?> tiny = (Map<?, ?>) ((List<?>) ((Map<?, ?>) Json.parse(models.body())).get("data")).getFirst();
        Map<?, ?> defaults = (Map<?, ?>) tiny.get("defaults");
        assertEquals((long) server.models().get("tiny").denoiser.defaultImageSize(), defaults.get("size"));
        assertEquals((long) server.models().get("tiny").denoiser.unet().skipConnections(), defaults.get("deepcache_branches"));
    }

    @Test
    void aClientThatLeavesMidStreamFreesItsQueueSlot() throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest req = HttpRequest.newBuilder(url.resolve(STREAM)).header("Authorization", "Bearer " + TestServers.KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"x\",\"seed\":3,\"steps\":150,\"width\":256,\"height\":256}")).build();
        long stepsBefore = server.models().get("tiny").batchedSteps();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null && !line.equals("event: progress")) {
                assertFalse(line.equals("event: image"), "a step arrives before the image");
            }
            assertEquals("event: progress", line, "a step arrives while the job runs");
            assertEquals(1, server.admission.inFlight(), "the job still holds its slot");
        }
        http.shutdownNow(); // the client goes away a step or so into 150
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (server.admission.inFlight() > 0 && System.nanoTime() < deadline) Thread.sleep(20);
        assertEquals(0, server.admission.inFlight(), "the slot is free again");
        long ran = server.models().get("tiny").batchedSteps() - stepsBefore;
        assertTrue(ran < 150, "the server dropped the job after " + ran + " of 150 steps instead of finishing it");
    }
}
