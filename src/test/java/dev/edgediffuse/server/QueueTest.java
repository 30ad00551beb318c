package dev.edgediffuse.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/** Back-pressure and cancellation: a full queue answers 503 + Retry-After; timeouts 504; a vanished client frees its slot. */
class QueueTest {
    @TempDir
    Path dir;

    static final String SLOW = "{\"prompt\":\"slow\",\"seed\":1,\"steps\":150,\"width\":256,\"height\":256}";

    private static int inFlight(EdgeServer s) throws Exception {
        String b = TestServers.get(s.uri(), "/health", TestServers.KEY).body();
        return Integer.parseInt(b.replaceAll(".*\"in_flight\":(\\d+).*", "$1"));
    }

    private static void awaitInFlight(EdgeServer s, int n, long millis) throws Exception {
        long end = System.currentTimeMillis() + millis;
        while (inFlight(s) != n) {
            if (System.currentTimeMillis() > end) fail("in_flight stayed " + inFlight(s) + ", expected " + n);
            Thread.sleep(20);
        }
    }

    @Test
    void fullQueueIs503WithRetryAfter() throws Exception {
        try (EdgeServer s = TestServers.start(Map.of("t", TestServers.model(dir, 7)),
                EdgeServer.Options.loopback(TestServers.KEY).withQueue(1, 1).withTimeout(Duration.ofSeconds(3)))) {
            var slow = CompletableFuture.supplyAsync(() -> {
                try {
                    return TestServers.post(s.uri(), "/sdapi/v1/txt2img", TestServers.KEY, SLOW);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            awaitInFlight(s, 1, 5000);
            var busy = TestServers.post(s.uri(), "/sdapi/v1/txt2img", TestServers.KEY, "{\"prompt\":\"x\",\"steps\":1,\"width\":64,\"height\":64}");
            ServerTest.assertError(busy, 503, "server busy");
            assertTrue(Integer.parseInt(busy.headers().firstValue("Retry-After").orElse("0")) >= 1);
            // the slow one passes the 3 s per-request limit
            ServerTest.assertError(slow.get(), 504, "timed out");
            awaitInFlight(s, 0, 5000);
        }
    }

    @Test
    void disconnectedClientIsCancelled() throws Exception {
        try (EdgeServer s = TestServers.start(Map.of("t", TestServers.model(dir, 7)), EdgeServer.Options.loopback(TestServers.KEY))) {
            long t0 = System.nanoTime();
            try (Socket c = new Socket(InetAddress.getLoopbackAddress(), s.port())) {
                OutputStream o = c.getOutputStream();
                byte[] body = SLOW.getBytes(StandardCharsets.UTF_8);
                o.write(("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + TestServers.KEY
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                o.write(body);
                o.flush();
                awaitInFlight(s, 1, 5000);
            }
            awaitInFlight(s, 0, 3000);
            assertTrue((System.nanoTime() - t0) / 1e9 < 8, "freed long before 150 steps at 256² could finish");
            assertTrue(TestServers.LOG.toString().isEmpty() || !TestServers.LOG.toString().contains("Exception"), TestServers.LOG.toString());
        }
    }
}
