package dev.edgediffuse.cli;

import dev.edgediffuse.server.TestServers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** serve and loadtest from the command line: option errors, and a bounded load test that every request survives. */
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

    @Test
    void badServeAndLoadtestOptions() throws Exception {
        Path m = TestServers.model(dir, 7);
        var open = GenerateCommandTest.run("serve", "--model", "t=" + m, "--no-auth", "--host", "0.0.0.0", "--port", "0");
        assertEquals(1, open.code());
        assertTrue(open.err().contains("loopback"), open.err());
        var noKey = GenerateCommandTest.run("serve", "--model", "t=" + m, "--api-key-env", "EDGEDIFFUSE_TEST_UNSET_VAR");
        assertEquals(2, noKey.code());
        assertTrue(noKey.err().contains("EDGEDIFFUSE_TEST_UNSET_VAR is not set"), noKey.err());
        var noModel = GenerateCommandTest.run("serve", "--no-auth");
        assertTrue(noModel.err().contains("--model"), noModel.err());
        var remote = GenerateCommandTest.run("loadtest", "--url", "http://192.0.2.1:7860");
        assertEquals(2, remote.code());
        assertTrue(remote.err().contains("loopback"), remote.err());
        var split = GenerateCommandTest.run("generate", "--model", m.toString(), "--prompt", "x", "--hybrid", "http://127.0.0.1:1", "--split", "a,b");
        assertEquals(2, split.code());
        assertTrue(split.err().contains("--split must be K,M"), split.err());
    }
}
