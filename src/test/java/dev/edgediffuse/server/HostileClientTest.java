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
}
