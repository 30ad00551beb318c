package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/** The HTTP API on a real loopback server: auth, every validation error, image endpoints, batching. */
class ServerTest {
    @TempDir
    static Path dir;
    static EdgeServer server;
    static URI url;

    @BeforeAll
    static void start() throws IOException {
        server = TestServers.start(Map.of("tiny", TestServers.model(dir, 7)), EdgeServer.Options.loopback(TestServers.KEY)
                .withLimits(new Limits(256, 50, 100, 4096, 3)));
        url = server.uri();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** An error answer: the status, a one-line JSON message mentioning {@code mention}, no stack trace. */
    static void assertError(HttpResponse<String> r, int status, String mention) {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.body());
        @SuppressWarnings("unchecked")
        Map<String, Object> err = (Map<String, Object>) ((Map<String, Object>) Json.parse(r.body())).get("error");
        String msg = (String) err.get("message");
        assertTrue(msg.contains(mention), "'" + msg + "' should mention " + mention);
        assertFalse(r.body().contains("\tat ") || r.body().contains("Exception") || msg.contains("\n"), r.body());
    }

    @Test
    void healthIsOpenEverythingElseNeedsTheKey() throws Exception {
        var h = TestServers.get(url, "/health", null);
        assertEquals(200, h.statusCode());
        assertTrue(h.body().contains("\"status\":\"ok\"") && !h.body().contains("tiny"), h.body());
        assertTrue(TestServers.get(url, "/health", TestServers.KEY).body().contains("tiny"));
        var missing = TestServers.get(url, "/v1/models", null);
        assertError(missing, 401, "missing API key");
        assertEquals("Bearer", missing.headers().firstValue("WWW-Authenticate").orElse(""));
        assertError(TestServers.get(url, "/v1/models", "not-the-key"), 401, "invalid API key");
        assertError(TestServers.post(url, "/sdapi/v1/txt2img", "not-the-key", "{\"prompt\":\"x\"}"), 401, "invalid API key");
        assertError(TestServers.post(url, "/v1/hybrid/denoise", null, "{}"), 401, "missing API key");
        var models = TestServers.get(url, "/v1/models", TestServers.KEY);
        assertEquals(200, models.statusCode());
        assertTrue(models.body().contains("\"id\":\"tiny\""), models.body());
        assertTrue(TestServers.get(url, "/sdapi/v1/sd-models", TestServers.KEY).body().contains("\"model_name\":\"tiny\""));
    }

    @Test
    void aRefusedBodyEndsItsConnectionSoTheNextRequestNeverRacesTheClose() throws Exception {
        var refused = TestServers.post(url, "/v1/hybrid/denoise", "not-the-key", "{\"steps\": 2}");
        assertError(refused, 401, "invalid API key");
        assertEquals("close", refused.headers().firstValue("Connection").orElse(""), "the server will not read a body it refused");
        assertTrue(TestServers.get(url, "/v1/models", TestServers.KEY).headers().firstValue("Connection").isEmpty(), "no body, connection kept");
        // the pattern that once failed in CI: refused POSTs back to back on one pooled client
        for (int i = 0; i < 40; i++) {
            assertEquals(401, TestServers.post(url, "/sdapi/v1/txt2img", null, "{\"prompt\":\"x\"}").statusCode());
            assertEquals(200, TestServers.get(url, "/health", null).statusCode());
        }
    }

    @Test
    void authIsRequiredUnlessLoopbackAndExplicit() throws Exception {
        Path m = TestServers.model(dir, 7);
        var o = EdgeServer.Options.loopback(TestServers.KEY);
        var noKey = new EdgeServer.Options("127.0.0.1", 0, null, false, null, null, 4, 2, Duration.ofSeconds(5), Limits.DEFAULT);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TestServers.start(Map.of("t", m), noKey)).getMessage().contains("API key"));
        var open = new EdgeServer.Options("0.0.0.0", 0, null, true, null, null, 4, 2, Duration.ofSeconds(5), Limits.DEFAULT);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TestServers.start(Map.of("t", m), open)).getMessage().contains("loopback"));
        try (EdgeServer s = TestServers.start(Map.of("t", m), EdgeServer.Options.loopback(null))) {
            assertEquals(200, TestServers.get(s.uri(), "/v1/models", null).statusCode());
        }
        assertNotNull(o);
    }

    static HttpResponse<String> post(String path, String json) throws Exception {
        return TestServers.post(url, path, TestServers.KEY, json);
    }

    @Test
    void everyValidationErrorIsA4xxNamingTheField() throws Exception {
        String t = "/sdapi/v1/txt2img", o = "/v1/images/generations", h = "/v1/hybrid/denoise";
        assertError(post(t, "{\"prompt\": "), 400, "not valid JSON");
        assertError(post(t, "[1,2]"), 400, "JSON object");
        assertError(post(t, "{}"), 400, "prompt is required");
        assertError(post(t, "{\"prompt\":\"" + "x".repeat(101) + "\"}"), 400, "prompt is 101 characters");
        assertError(post(t, "{\"prompt\":\"x\",\"negative_prompt\":\"" + "y".repeat(101) + "\"}"), 400, "negative_prompt");
        assertError(post(t, "{\"prompt\":\"x\",\"steps\":0}"), 400, "steps must be in 1..50");
        assertError(post(t, "{\"prompt\":\"x\",\"steps\":51}"), 400, "steps must be in 1..50");
        assertError(post(t, "{\"prompt\":\"x\",\"steps\":\"many\"}"), 400, "steps must be an integer");
        assertError(post(t, "{\"prompt\":\"x\",\"width\":60}"), 400, "width must be a multiple of 8");
        assertError(post(t, "{\"prompt\":\"x\",\"height\":512}"), 400, "height must be a multiple of 8 in 8..256");
        assertError(post(t, "{\"prompt\":\"x\",\"cfg_scale\":1e9}"), 400, "cfg_scale");
        assertError(post(t, "{\"prompt\":\"x\",\"cfg_max_timestep\":-1}"), 400, "cfg_max_timestep");
        assertError(post(t, "{\"prompt\":\"x\",\"sampler_name\":\"Heun\"}"), 400, "unsupported sampler_name 'Heun'");
        assertError(post(t, "{\"prompt\":\"x\",\"batch_size\":2,\"n_iter\":2}"), 400, "the limit is 3");
        assertError(post(t, "{\"prompt\":\"x\",\"override_settings\":{\"sd_model_checkpoint\":\"sdxl\"}}"), 404, "model 'sdxl' is not loaded");
        assertError(post(o, "{\"prompt\":\"x\",\"n\":9}"), 400, "n must be in 1..3");
        assertError(post(o, "{\"prompt\":\"x\",\"size\":\"big\"}"), 400, "size must look like 512x512");
        assertError(post(o, "{\"prompt\":\"x\",\"response_format\":\"url\"}"), 400, "response_format 'url'");
        assertError(post(o, "{\"prompt\":\"x\",\"scheduler\":\"heun\"}"), 400, "heun");
        assertError(post(h, "{\"prompt\":\"x\",\"seed\":1,\"steps\":4,\"split\":5}"), 400, "split must be in 1..4");
        assertError(post(h, "{\"prompt\":\"x\",\"steps\":4,\"split\":2}"), 400, "seed is required");
        assertError(post(h, "{\"prompt\":\"x\",\"seed\":1,\"steps\":4,\"split\":2,\"bogus\":1}"), 400, "unknown field 'bogus'");
        assertError(post(h, "{\"prompt\":\"x\",\"seed\":1,\"steps\":4,\"split\":2,\"scheduler\":\"nope\"}"), 400, "unknown scheduler 'nope'");
        assertError(post(h, "{\"prompt\":\"x\",\"seed\":1,\"steps\":4,\"split\":2,\"nonce\":\"" + "n".repeat(65) + "\"}"), 400, "nonce");
        assertError(post(h, "{\"prompt\":\"x\",\"seed\":1,\"steps\":4,\"split\":2,\"model\":\"sdxl\"}"), 404, "not loaded");
        assertError(post(t, "{\"prompt\":\"x\",\"token_merging_ratio\":1}"), 400, "token_merging_ratio must be in [0, 1), got 1.0");
        assertError(post(t, "{\"prompt\":\"x\",\"override_settings\":{\"token_merging_ratio\":\"half\"}}"), 400, "token_merging_ratio must be a number");
        assertError(post(t, "{\"prompt\":\"x\",\"steps\":12,\"deepcache_interval\":1}"), 400, "deepcache_interval must be >= 2");
        assertError(post(t, "{\"prompt\":\"x\",\"steps\":12,\"deepcache_interval\":3,\"deepcache_branch\":4}"), 400, "deepcache_branch must be in 0..3");
        assertError(post(t, "{\"prompt\":\"x\",\"steps\":12,\"deepcache_branch\":1}"), 400, "deepcache_branch needs deepcache_interval");
        assertError(post(o, "{\"prompt\":\"x\",\"steps\":8,\"deepcache_interval\":3}"), 400, "deepcache_interval needs at least 10 steps, got 8");
        assertError(post(o, "{\"prompt\":\"x\",\"steps\":12,\"scheduler\":\"lcm\",\"deepcache_interval\":3}"), 400, "LCM");
        assertError(post(t, "{\"prompt\":\"" + "x".repeat(5000) + "\"}"), 413, "the limit is 4096");
        assertError(TestServers.get(url, t, TestServers.KEY), 405, "use POST");
        assertError(post("/sdapi/v1/img2img", "{}"), 404, "no such endpoint");
    }

    @Test
    void a1111AndOpenAiAnswerBase64Pngs() throws Exception {
        var a = post("/sdapi/v1/txt2img", "{\"prompt\":\"a cat\",\"negative_prompt\":\"dog\",\"seed\":5,\"steps\":3,\"width\":64,"
                + "\"height\":48,\"sampler_name\":\"DPM++ 2M Karras\",\"batch_size\":2,\"send_images\":true}");
        assertEquals(200, a.statusCode(), a.body());
        @SuppressWarnings("unchecked")
        Map<String, Object> body = (Map<String, Object>) Json.parse(a.body());
        List<?> images = (List<?>) body.get("images");
        assertEquals(2, images.size());
        var img = javax.imageio.ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode((String) images.get(0))));
        assertEquals(64, img.getWidth());
        assertEquals(48, img.getHeight());
        String info = (String) body.get("info");
        assertTrue(info.contains("\"all_seeds\":[5,6]") && info.contains("dpmpp_2m_karras"), info);

        var o = post("/v1/images/generations", "{\"model\":\"tiny\",\"prompt\":\"a cat\",\"size\":\"64x64\",\"n\":1,\"steps\":2,\"seed\":5}");
        assertEquals(200, o.statusCode(), o.body());
        assertTrue(o.body().contains("\"created\":") && o.body().contains("\"b64_json\":\"iVBOR"), o.body().substring(0, 80));
    }

    @Test
    void speedUpsAreExtraFieldsRecordedInTheInfotext() throws Exception {
        var a = post("/sdapi/v1/txt2img", "{\"prompt\":\"a cat\",\"seed\":5,\"steps\":10,\"width\":64,\"height\":64,"
                + "\"override_settings\":{\"token_merging_ratio\":0.5},\"deepcache_interval\":3}");
        assertEquals(200, a.statusCode(), a.body());
        String info = (String) ((Map<?, ?>) Json.parse(a.body())).get("info");
        assertTrue(info.contains("Token merging ratio: 0.5, DeepCache interval: 3, DeepCache branch: 0")
                && info.contains("\"token_merging_ratio\":0.5") && info.contains("\"deepcache_interval\":3"), info);
        var o = post("/v1/images/generations", "{\"prompt\":\"a cat\",\"size\":\"64x64\",\"steps\":10,\"seed\":5,"
                + "\"token_merging_ratio\":0.3,\"deepcache_interval\":2,\"deepcache_branch\":1}");
        assertEquals(200, o.statusCode(), o.body());
        byte[] png = Base64.getDecoder().decode((String) ((Map<?, ?>) ((List<?>) ((Map<?, ?>) Json.parse(o.body())).get("data")).getFirst()).get("b64_json"));
        String text = new String(png, java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("Token merging ratio: 0.3, DeepCache interval: 2, DeepCache branch: 1"), "the PNG's parameters");
    }

    @Test
    void fieldsLeftOutComeFromTheModelsSamplingDefaults(@TempDir Path tmp) throws Exception {
        Path model = TestServers.model(tmp, 7);
        Files.writeString(model.resolve("sampling_defaults.json"), "{\"steps\": 2, \"scheduler\": \"ddim\", \"cfg_scale\": 2.5, \"cfg_max_timestep\": 400}");
        try (EdgeServer s = TestServers.start(Map.of("tuned", model), EdgeServer.Options.loopback(TestServers.KEY))) {
            var a = TestServers.post(s.uri(), "/sdapi/v1/txt2img", TestServers.KEY, "{\"prompt\":\"a cat\",\"seed\":5,\"width\":64,\"height\":64}");
            assertEquals(200, a.statusCode(), a.body());
            String info = (String) ((Map<?, ?>) Json.parse(a.body())).get("info");
            assertTrue(info.contains("Steps: 2, Sampler: ddim, CFG scale: 2.5, CFG max timestep: 400"), info);

            var o = TestServers.post(s.uri(), "/v1/images/generations", TestServers.KEY,
                    "{\"prompt\":\"a cat\",\"size\":\"64x64\",\"seed\":5,\"cfg_scale\":4}");
            assertEquals(200, o.statusCode(), o.body());
            String b64 = (String) ((Map<?, ?>) ((List<?>) ((Map<?, ?>) Json.parse(o.body())).get("data")).get(0)).get("b64_json");
            String png = new String(Base64.getDecoder().decode(b64), java.nio.charset.StandardCharsets.ISO_8859_1);
            assertTrue(png.contains("Steps: 2, Sampler: ddim, CFG scale: 4.0, CFG max timestep: 400"), "a field given wins: " + png.substring(0, 200));
        }
    }

    @Test
    void aModelsDefaultSpeedUpsApplyUnlessTheRequestSetsThem(@TempDir Path tmp) throws Exception {
        Path model = TestServers.model(tmp, 7);
        Files.writeString(model.resolve("sampling_defaults.json"), "{\"steps\": 10, \"token_merging_ratio\": 0.5, \"deepcache_interval\": 3}");
        try (EdgeServer s = TestServers.start(Map.of("fast", model), EdgeServer.Options.loopback(TestServers.KEY))) {
            var a = TestServers.post(s.uri(), "/sdapi/v1/txt2img", TestServers.KEY, "{\"prompt\":\"a cat\",\"seed\":5,\"width\":64,\"height\":64}");
            assertEquals(200, a.statusCode(), a.body());
            String info = (String) ((Map<?, ?>) Json.parse(a.body())).get("info");
            assertTrue(info.contains("Token merging ratio: 0.5, DeepCache interval: 3, DeepCache branch: 0"), info);
            var b = TestServers.post(s.uri(), "/sdapi/v1/txt2img", TestServers.KEY, "{\"prompt\":\"a cat\",\"seed\":5,\"width\":64,"
                    + "\"height\":64,\"token_merging_ratio\":0,\"steps\":4}");
            assertEquals(200, b.statusCode(), b.body());
            String plain = (String) ((Map<?, ?>) Json.parse(b.body())).get("info");
            assertFalse(plain.contains("Token merging") || plain.contains("DeepCache"),
                    "ratio 0 turns merging off; 4 steps leave the default DeepCache out: " + plain);
        }
    }

    @Test
    void concurrentSameSizeRequestsShareUNetCalls() throws Exception {
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String json = "{\"prompt\":\"p" + i + "\",\"seed\":" + i + ",\"steps\":20,\"width\":64,\"height\":64}";
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return post("/sdapi/v1/txt2img", json);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        for (var f : all) assertEquals(200, f.get().statusCode());
        assertTrue(server.models().get("tiny").meanBatch() > 1.2, "mean batch " + server.models().get("tiny").meanBatch());
    }
}
