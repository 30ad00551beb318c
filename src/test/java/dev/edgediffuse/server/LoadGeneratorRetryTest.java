package dev.edgediffuse.server;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** Load-test clients repeat what may be repeated (503 after Retry-After, 502), and only that. */
class LoadGeneratorRetryTest {
    @Test
    void refusedRequestsAreRepeatedUpToTheLimit() throws Exception {
        AtomicInteger seen = new AtomicInteger();
        HttpServer fake = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        fake.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            int n = seen.incrementAndGet();
            byte[] body = ("{\"error\":{\"message\":\"" + (n % 2 == 1 ? "busy" : "bad") + "\",\"code\":1}}").getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.getResponseHeaders().add("Retry-After", "0");
            ex.sendResponseHeaders(n % 2 == 1 ? 503 : 400, body.length); // 503 then 400: one retry, then a final answer
            ex.getResponseBody().write(body);
            ex.close();
        });
        fake.start();
        try {
            URI url = URI.create("http://127.0.0.1:" + fake.getAddress().getPort());
            LoadGenerator.Report r = LoadGenerator.run(url, null,
                    new LoadGenerator.Plan("txt2img", 1, 3, 1, 1, 64, 64, Duration.ofSeconds(10), 2));
            assertEquals(6, seen.get(), "each request: a 503, repeated once, then a 400 that is not repeated");
            assertEquals(Map.of("503", 3), r.retried());
            assertEquals(Map.of(400, 3), r.clearErrors());
            assertEquals(0, r.failures());
            assertTrue(r.summary().contains("retried {503=3}"), r.summary());
        } finally {
            fake.stop(0);
        }
    }
}
