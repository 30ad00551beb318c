package dev.edgediffuse.server;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** What a hostile client tried on a server with the default limits: each answer is a one-line JSON error. */
class HostileClientTest {
    @TempDir
    static Path dir;
    static EdgeServer server;
    static URI url;

    @BeforeAll
    static void start() throws IOException {
        server = TestServers.start(Map.of("tiny", TestServers.model(dir, 7)), EdgeServer.Options.loopback(TestServers.KEY));
        url = server.uri();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void deeplyNestedJsonUnderTheBodyLimitIsA400OnEveryPostEndpoint() throws Exception {
        for (String deep : List.of("[".repeat(65_000), "{\"a\":".repeat(13_000))) {
            assertTrue(deep.length() < Limits.DEFAULT.maxBodyBytes());
            for (String path : List.of("/sdapi/v1/txt2img", "/v1/images/generations", "/v1/hybrid/denoise")) {
                ServerTest.assertError(TestServers.post(url, path, TestServers.KEY, deep), 400, "nesting depth");
            }
        }
    }

    /** Whether the server closed the connection within {@code seconds} while the client was still sending. */
    static boolean closedWithin(java.net.Socket s, double seconds, byte[] dribble) throws Exception {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        java.io.InputStream in = s.getInputStream();
        s.setSoTimeout(50);
        int i = 0;
        while (System.nanoTime() < end) {
            try {
                if (in.read() == -1) return true;
            } catch (java.net.SocketTimeoutException stillOpen) {
                // keep dribbling
            } catch (java.io.IOException reset) {
                return true;
            }
            try {
                s.getOutputStream().write(dribble[i++ % dribble.length]);
                s.getOutputStream().flush();
            } catch (java.io.IOException closed) {
                return true;
            }
            Thread.sleep(150);
        }
        return false;
    }

    /** Clients that dribble a request's head or body are disconnected at the read deadline; normal ones are not. */
    @Test
    void slowClientsAreDisconnectedAtTheReadDeadline() throws Exception {
        try (EdgeServer s = TestServers.start(Map.of("tiny", TestServers.model(dir, 7)),
                EdgeServer.Options.loopback(TestServers.KEY).withReadDeadline(java.time.Duration.ofSeconds(1)))) {
            int port = s.port();
            try (java.net.Socket head = new java.net.Socket("127.0.0.1", port)) {
                head.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\n".getBytes());
                assertTrue(closedWithin(head, 6, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".getBytes()), "a dribbled head is cut off");
            }
            try (java.net.Socket body = new java.net.Socket("127.0.0.1", port)) {
                body.getOutputStream().write(("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TestServers.KEY
                        + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").getBytes());
                assertTrue(closedWithin(body, 6, " ".getBytes()), "a dribbled body is cut off");
            }
            // an honest client on a kept-alive connection is served, request after request
            for (int i = 0; i < 3; i++) assertEquals(200, TestServers.get(s.uri(), "/health", null).statusCode());
            Thread.sleep(300);
            assertEquals(200, TestServers.get(s.uri(), "/v1/models", TestServers.KEY).statusCode());
        }
    }

    /** /health says up or down to anyone; the model names and load only with the key. */
    @Test
    void healthNamesModelsOnlyWithTheKey() throws Exception {
        var open = TestServers.get(url, "/health", null);
        assertEquals(200, open.statusCode());
        assertEquals("{\"status\":\"ok\"}", open.body());
        assertEquals("{\"status\":\"ok\"}", TestServers.get(url, "/health", "wrong-key").body());
        var keyed = TestServers.get(url, "/health", TestServers.KEY);
        assertTrue(keyed.body().contains("\"models\":[\"tiny\"]") && keyed.body().contains("\"in_flight\":"), keyed.body());
    }
}
