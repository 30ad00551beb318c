package dev.edgediffuse.cli;

import dev.edgediffuse.server.TestServers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * serve and loadtest from the command line: option errors, the built-in model served by default and by name, and a
 * bounded load test that every request survives.
 */
class ServeLoadtestCommandTest {
    @TempDir
    static Path dir;

    @Test
    void loadtestAgainstAnInProcessServer() throws Exception {
        Path m = TestServers.model(dir, 7);
        for (String endpoint : new String[]{"txt2img", "hybrid"}) {
            var r = GenerateCommandTest.run("loadtest", "--model", "t=" + m, "--clients", "4", "--requests", "12", "--steps", "4",
                    "--endpoint", endpoint, "--queue", "8");
            assertEquals(0, r.code(), r.err() + r.out());
            assertTrue(r.out().contains("12 ok") && r.out().contains("0 failures") && r.out().contains("p99"), r.out());
        }
        // more clients than queue slots: the rest get clear 503s, none fail
        var r = GenerateCommandTest.run("loadtest", "--model", "t=" + m, "--clients", "6", "--requests", "12", "--steps", "8",
                "--queue", "2", "--max-batch", "2");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("0 failures"), r.out());
    }

    /** A serve command running in a thread until {@link #close()} interrupts it. */
    record Serving(Thread thread, URI uri, ByteArrayOutputStream out, int[] code) implements AutoCloseable {
        static Serving start(String... args) throws InterruptedException {
            ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
            int[] code = {-1};
            Thread t = new Thread(() -> code[0] = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8)));
            t.start();
            Matcher m = Pattern.compile("listening on (\\S+)").matcher("");
            for (long end = System.nanoTime() + 60_000_000_000L; t.isAlive() && System.nanoTime() < end; Thread.sleep(20)) {
                if (m.reset(out.toString(StandardCharsets.UTF_8)).find()) return new Serving(t, URI.create(m.group(1)), out, code);
            }
            t.interrupt();
            throw new AssertionError("serve did not start: " + out + err);
        }

        @Override
        public void close() throws InterruptedException {
            thread.interrupt();
            thread.join(10_000);
            assertEquals(0, code[0], "serve returns 0 once stopped");
        }
    }

    @Test
    void serveWithoutModelServesTheBuiltInOneUnderItsName() throws Exception {
        try (Serving s = Serving.start("serve", "--no-auth", "--port", "0")) {
            assertTrue(s.out().toString(StandardCharsets.UTF_8).contains("(models: mini; no API key)"), s.out().toString());
            HttpResponse<String> models = TestServers.get(s.uri(), "/v1/models", null);
            assertEquals(200, models.statusCode());
            assertTrue(models.body().contains("\"id\":\"mini\""), models.body());
            HttpResponse<String> image = TestServers.post(s.uri(), "/sdapi/v1/txt2img", null,
                    "{\"prompt\":\"a photo of a bag\",\"steps\":2,\"model\":\"mini\"}");
            assertEquals(200, image.statusCode(), image.body());
            assertTrue(image.body().contains("Model: mini"), "answered by the model served as mini");
        }
    }

    @Test
    void requestsNameABuiltInModelServedUnderAnotherName() throws Exception {
        Path tiny = TestServers.model(dir, 7);
        try (Serving s = Serving.start("serve", "--no-auth", "--port", "0", "--model", "t=" + tiny, "--model", "fast=mini")) {
            HttpResponse<String> models = TestServers.get(s.uri(), "/v1/models", null);
            assertTrue(models.body().contains("\"id\":\"t\"") && models.body().contains("\"id\":\"fast\""), models.body());
            String request = "{\"prompt\":\"a photo of a bag\",\"steps\":2,\"model\":\"%s\"}";
            HttpResponse<String> byBuiltInName = TestServers.post(s.uri(), "/sdapi/v1/txt2img", null, request.formatted("mini"));
            assertEquals(200, byBuiltInName.statusCode(), byBuiltInName.body());
            assertTrue(byBuiltInName.body().contains("Model: fast"), "answered by the built-in model served as fast, not by t");
            HttpResponse<String> unknown = TestServers.post(s.uri(), "/sdapi/v1/txt2img", null, request.formatted("mini-tiny"));
            assertEquals(404, unknown.statusCode(), unknown.body());
            assertTrue(unknown.body().contains("loaded: t, fast"), unknown.body());
        }
    }

    @Test
    void badServeAndLoadtestOptions() throws Exception {
        Path m = TestServers.model(dir, 7);
        var open = GenerateCommandTest.run("serve", "--model", "t=" + m, "--no-auth", "--host", "0.0.0.0", "--port", "0");
        assertEquals(1, open.code());
        assertTrue(open.err().contains("loopback"), open.err());
        var noKey = GenerateCommandTest.run("serve", "--model", "t=" + m, "--api-key-env", "EDGEDIFFUSE_TEST_UNSET_VAR");
        assertEquals(2, noKey.code());
        assertTrue(noKey.err().contains("EDGEDIFFUSE_TEST_UNSET_VAR is not set"), noKey.err());
        var unknown = GenerateCommandTest.run("serve", "--no-auth", "--port", "0", "--model", "fast=mini-nonexistent");
        assertEquals(1, unknown.code());
        assertTrue(unknown.err().contains("mini-nonexistent: model not found") && unknown.err().contains("built-in model: mini"), unknown.err());
        var badName = GenerateCommandTest.run("serve", "--no-auth", "--port", "0", "--model", "a b=mini");
        assertEquals(2, badName.code());
        assertTrue(badName.err().contains("--model name 'a b'"), badName.err());
        var remote = GenerateCommandTest.run("loadtest", "--url", "http://192.0.2.1:7860");
        assertEquals(2, remote.code());
        assertTrue(remote.err().contains("loopback"), remote.err());
        var split = GenerateCommandTest.run("generate", "--model", m.toString(), "--prompt", "x", "--hybrid", "http://127.0.0.1:1", "--split", "a,b");
        assertEquals(2, split.code());
        assertTrue(split.err().contains("--split must be K,M"), split.err());
    }
}
