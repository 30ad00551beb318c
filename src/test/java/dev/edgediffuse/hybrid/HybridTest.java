package dev.edgediffuse.hybrid;

import com.sun.net.httpserver.HttpServer;
import dev.edgediffuse.cli.Main;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.server.EdgeServer;
import dev.edgediffuse.server.TestServers;
import dev.edgediffuse.testing.Folders;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/** Device ↔ server hybrid generation against a real loopback server, and the device's fallback under faults. */
class HybridTest {
    @TempDir
    static Path dir;
    static Path big, small;
    static EdgeServer server;

    @BeforeAll
    static void start() throws IOException {
        big = TestServers.model(dir, 7);
        small = TestServers.model(dir, 9);
        server = TestServers.start(Map.of("big", big, "small", small), EdgeServer.Options.loopback(TestServers.KEY));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    record Run(int code, String out, String err) {}

    static Run cli(List<String> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static List<String> gen(Path model, String name, String scheduler, String... extra) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", "a red fox in snow",
                "--negative-prompt", "blurry", "--width", "64", "--height", "64", "--seed", "42", "--scheduler", scheduler,
                "--out", dir.resolve(name + ".png").toString(), "--save-latents", dir.resolve(name + ".npy").toString(), "--quiet"));
        a.addAll(List.of(extra));
        return a;
    }

    static List<String> hybrid(URI url, Path model, String name, String scheduler, String split, String... extra) {
        List<String> a = gen(model, name, scheduler, "--hybrid", url.toString(), "--split", split, "--api-key", TestServers.KEY,
                "--hybrid-timeout", "20");
        a.addAll(List.of(extra));
        return a;
    }

    static float[] latents(String name) {
        return Npy.read(dir.resolve(name + ".npy")).data();
    }

    static byte[] png(String name) throws IOException {
        return Files.readAllBytes(dir.resolve(name + ".png"));
    }

    @Test
    void sameModelAndSplitEqualsAllLocal() throws IOException {
        for (String s : List.of("euler_a", "dpmpp_2m_karras", "lcm", "ddim", "euler")) {
            Run local = cli(gen(big, "local-" + s, s, "--steps", "6"));
            assertEquals(0, local.code, local.err);
            Run h = cli(hybrid(server.uri(), big, "hybrid-" + s, s, "2,4", "--remote-model", "big"));
            assertEquals(0, h.code, h.err);
            assertTrue(h.err.contains("server ran steps 1-2") && h.err.contains("network") && h.err.contains("device ran 4 steps"), h.err);
            assertArrayEquals(latents("local-" + s), latents("hybrid-" + s), s);
            assertArrayEquals(pixels("local-" + s), pixels("hybrid-" + s), s);
        }
        // guidance limited to the quieter steps travels with the request: the server's steps are the unguided ones
        Run li = cli(gen(big, "local-interval", "ddim", "--steps", "6", "--cfg-max-timestep", "500"));
        assertEquals(0, li.code, li.err);
        Run hi = cli(hybrid(server.uri(), big, "hybrid-interval", "ddim", "2,4", "--remote-model", "big", "--cfg-max-timestep", "500"));
        assertEquals(0, hi.code, hi.err);
        assertArrayEquals(latents("local-interval"), latents("hybrid-interval"));
        assertFalse(Arrays.equals(latents("local-ddim"), latents("local-interval")));
        // the same with the server's prompt embeddings, and with --steps K,M spelling
        Run e = cli(hybrid(server.uri(), big, "hybrid-emb", "euler_a", "2,4", "--remote-model", "big", "--remote-embeddings"));
        assertEquals(0, e.code, e.err);
        assertArrayEquals(latents("local-euler_a"), latents("hybrid-emb"));
        List<String> alt = gen(big, "hybrid-steps", "dpmpp_2m_karras", "--hybrid", server.uri().toString(), "--steps", "2,4",
                "--api-key", TestServers.KEY, "--remote-model", "big");
        assertEquals(0, cli(alt).code);
        assertArrayEquals(latents("local-dpmpp_2m_karras"), latents("hybrid-steps"));
    }

    @Test
    void speedUpsApplyToTheDevicesSteps() throws IOException {
        Run plain = cli(hybrid(server.uri(), big, "hybrid-plain", "ddim", "4,8", "--remote-model", "big"));
        assertEquals(0, plain.code, plain.err);
        Run fast = cli(hybrid(server.uri(), big, "hybrid-fast", "ddim", "4,8", "--remote-model", "big", "--tome", "0.5", "--deepcache", "3"));
        assertEquals(0, fast.code, fast.err);
        assertTrue(fast.err.contains("server ran steps 1-4") && fast.err.contains("device ran 8 steps"), fast.err);
        assertFalse(Arrays.equals(latents("hybrid-plain"), latents("hybrid-fast")));
        String text = new String(png("hybrid-fast"), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("Token merging ratio: 0.5, DeepCache interval: 3, DeepCache branch: 0, Hybrid: 4 steps on"), text.substring(0, 300));
    }

    private static int[] pixels(String name) throws IOException {
        var img = javax.imageio.ImageIO.read(dir.resolve(name + ".png").toFile());
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    @Test
    void largeOnServerSmallOnDevice() {
        Run h = cli(hybrid(server.uri(), small, "mixed", "dpmpp_2m", "3,3", "--remote-model", "big"));
        assertEquals(0, h.code, h.err);
        assertTrue(h.err.contains("server ran steps 1-3"), h.err);
        assertTrue(cli(gen(small, "small-only", "dpmpp_2m", "--steps", "6")).code == 0);
        assertFalse(Arrays.equals(latents("mixed"), latents("small-only")), "the server's model shaped the first steps");
    }

    /** A pruned student of the server's model continues its trajectory: through the server and on this machine alike. */
    @Test
    void teacherOnTheServerStudentOnTheDevice() throws IOException {
        Path student = dir.resolve("student");
        Run pruned = cli(List.of("prune", "--model", big.toString(), "--preset", "small", "--out", student.toString(), "--quiet"));
        assertEquals(0, pruned.code, pruned.err);
        Run served = cli(hybrid(server.uri(), student, "student-served", "euler_a", "2,4", "--remote-model", "big"));
        assertEquals(0, served.code, served.err);
        assertTrue(served.err.contains("server ran steps 1-2"), served.err);
        Run local = cli(gen(student, "student-local", "euler_a", "--hybrid-teacher", big.toString(), "--split", "2,4"));
        assertEquals(0, local.code, local.err);
        assertTrue(local.err.contains("ran steps 1-2") && local.err.contains("ran 4 steps"), local.err);
        assertArrayEquals(latents("student-served"), latents("student-local"));
        assertArrayEquals(pixels("student-served"), pixels("student-local"));
        // all steps on the teacher, then the student's VAE: the teacher's own image (they share the VAE)
        assertEquals(0, cli(gen(student, "teacher-all", "euler_a", "--hybrid-teacher", big.toString(), "--split", "6,0")).code);
        assertEquals(0, cli(gen(big, "big-alone", "euler_a", "--steps", "6")).code);
        assertArrayEquals(latents("big-alone"), latents("teacher-all"));
        Run onlyStudent = cli(gen(student, "student-all", "euler_a", "--hybrid-teacher", big.toString(), "--split", "0,6"));
        assertEquals(0, onlyStudent.code, onlyStudent.err);
        assertFalse(Arrays.equals(latents("student-all"), latents("student-local")));
    }

    @Test
    void aLocalSplitAcrossLatentSpacesIsAOneLineError() throws IOException {
        Path rescaled = Folders.copy(small, dir.resolve("small-rescaled-local"));
        Files.writeString(rescaled.resolve("vae/config.json"), Files.readString(rescaled.resolve("vae/config.json")).replace("0.18215", "0.5"));
        Run r = cli(gen(rescaled, "x", "euler_a", "--hybrid-teacher", small.toString(), "--split", "2,3"));
        assertEquals(1, r.code, r.err);
        assertTrue(r.err.contains("different latent spaces") && r.err.lines().count() == 1, r.err);
    }

    @Test
    void anotherLatentSpaceFallsBack() throws IOException {
        // the small model with its latents scaled otherwise: same shapes, but the server's latents would decode wrongly
        Path rescaled = Folders.copy(small, dir.resolve("small-rescaled"));
        String vae = Files.readString(rescaled.resolve("vae/config.json"));
        assertTrue(vae.contains("0.18215"), vae);
        Files.writeString(rescaled.resolve("vae/config.json"), vae.replace("0.18215", "0.5"));
        Run r = cli(hybrid(server.uri(), rescaled, "rescaled", "euler_a", "2,3", "--remote-model", "small"));
        assertEquals(0, r.code, r.err);
        assertTrue(r.err.contains("fell back to all 5 steps on the device") && r.err.contains("another latent space")
                && r.err.contains("[0.18215, 0.18215, 0.18215, 0.18215]") && r.err.contains("[0.5, 0.5, 0.5, 0.5]"), r.err);
    }

    // ---- faults: the device always finishes, all-local, and says why ----

    private void assertFallsBack(URI url, String why, String... extra) throws IOException {
        String name = "fb-" + Integer.toHexString(why.hashCode());
        Run ref = cli(gen(small, "ref-fb", "euler_a", "--steps", "5"));
        assertEquals(0, ref.code);
        Run r = cli(hybrid(url, small, name, "euler_a", "2,3", extra));
        assertEquals(0, r.code, r.err);
        assertTrue(r.err.contains("fell back to all 5 steps on the device") && r.err.contains(why), r.err);
        assertArrayEquals(latents("ref-fb"), latents(name), "nothing lost: the fallback is the all-local image");
        assertArrayEquals(png("ref-fb").length > 0 ? pixels("ref-fb") : null, pixels(name));
    }

    @Test
    void unreachableServer() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        assertFallsBack(URI.create("http://127.0.0.1:" + port), "unreachable");
    }

    @Test
    void wrongModelNameAndWrongKey() throws IOException {
        assertFallsBack(server.uri(), "model 'nope' is not loaded", "--remote-model", "nope");
        List<String> a = hybrid(server.uri(), small, "badkey", "euler_a", "2,3");
        a.set(a.indexOf(TestServers.KEY), "wrong-key-123");
        Run r = cli(a);
        assertEquals(0, r.code);
        assertTrue(r.err.contains("401") && r.err.contains("invalid API key"), r.err);
    }

    @Test
    void stalledServerHitsTheDeadline() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            List<Socket> held = new ArrayList<>();
            Thread t = Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (true) held.add(s.accept()); // accepts, reads nothing, answers nothing
                } catch (IOException ignored) {
                    // closed by the test
                }
            });
            long t0 = System.nanoTime();
            assertFallsBack(URI.create("http://127.0.0.1:" + s.getLocalPort()), "did not answer within 1 s", "--hybrid-timeout", "1");
            assertTrue((System.nanoTime() - t0) / 1e9 < 10);
            for (Socket c : held) c.close();
            t.interrupt();
        }
    }

    /** A fake server answering with a real handoff (from the real server) passed through {@code damage}. */
    private void withProxy(UnaryOperator<byte[]> damage, boolean lieAboutLength, String why, String... extra) throws Exception {
        HttpServer fake = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        fake.createContext("/", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            java.net.http.HttpResponse<byte[]> real;
            try {
                real = TestServers.postBytes(server.uri(), "/v1/hybrid/denoise", TestServers.KEY, new String(body, StandardCharsets.UTF_8));
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            byte[] out = damage.apply(real.body());
            ex.getResponseHeaders().add("Content-Type", Handoff.CONTENT_TYPE);
            ex.sendResponseHeaders(200, lieAboutLength ? real.body().length : out.length);
            try {
                ex.getResponseBody().write(out);
                ex.getResponseBody().close();
            } catch (IOException ignored) {
                // the client gives up on the short body
            }
            ex.close();
        });
        fake.start();
        try {
            assertFallsBack(URI.create("http://127.0.0.1:" + fake.getAddress().getPort()), why, extra);
        } finally {
            fake.stop(0);
        }
    }

    @Test
    void corruptTruncatedOrForeignPayloads() throws Exception {
        withProxy(b -> { b[b.length / 2] ^= 0x10; return b; }, false, "checksum mismatch");
        withProxy(b -> Arrays.copyOf(b, b.length - 100), false, "truncated");
        withProxy(b -> Arrays.copyOf(b, b.length / 3), true, "did not answer within 2 s", "--hybrid-timeout", "2");
        withProxy(b -> "<html>gateway error</html>".getBytes(StandardCharsets.UTF_8), false, "bad magic");
    }

    @Test
    void connectionClosedMidBody() throws Exception {
        byte[] payload = TestServers.postBytes(server.uri(), "/v1/hybrid/denoise", TestServers.KEY,
                "{\"prompt\":\"p\",\"seed\":1,\"width\":64,\"height\":64,\"steps\":5,\"split\":2}").body();
        try (ServerSocket s = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread t = Thread.ofPlatform().daemon().start(() -> {
                while (true) {
                    try (Socket c = s.accept()) {
                        c.getInputStream().read(new byte[65536]);
                        var o = c.getOutputStream();
                        o.write(("HTTP/1.1 200 OK\r\nContent-Type: " + Handoff.CONTENT_TYPE + "\r\nContent-Length: " + payload.length
                                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                        o.write(payload, 0, payload.length / 2);
                        o.flush();
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            assertFallsBack(URI.create("http://127.0.0.1:" + s.getLocalPort()), "connection failed");
            t.interrupt();
        }
    }

    /** A raw loopback server answering every connection with {@code head} and then {@code body}'s bytes. */
    private static ServerSocket rawServer(String head, java.util.function.Consumer<java.io.OutputStream> body) throws IOException {
        ServerSocket s = new ServerSocket(0, 10, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().start(() -> {
            while (true) {
                try (Socket c = s.accept()) {
                    c.getInputStream().read(new byte[65536]);
                    var o = c.getOutputStream();
                    o.write(head.getBytes(StandardCharsets.US_ASCII));
                    body.accept(o);
                } catch (IOException e) {
                    if (s.isClosed()) return;
                }
            }
        });
        return s;
    }

    /** A server that answers 200 and streams bytes without end costs the device the cap, not its memory. */
    @Test
    void endlessAnswersAreCappedAndFallBack() throws Exception {
        long[] written = {0};
        String head = "HTTP/1.1 200 OK\r\nContent-Type: " + Handoff.CONTENT_TYPE + "\r\nConnection: close\r\n\r\n";
        try (ServerSocket s = rawServer(head, o -> {
            byte[] chunk = new byte[1 << 16];
            try {
                while (written[0] < (512L << 20)) { // the previous client read all of it (and OOMed devices on more)
                    o.write(chunk);
                    written[0] += chunk.length;
                }
            } catch (IOException closedByTheClient) {
                // what a capped client does
            }
        })) {
            assertFallsBack(URI.create("http://127.0.0.1:" + s.getLocalPort()), "answer larger than", "--hybrid-timeout", "30");
            assertTrue(written[0] < (64L << 20), "the device stopped reading after " + written[0] + " bytes");
        }
        // the same when the length is declared up front
        try (ServerSocket s = rawServer("HTTP/1.1 200 OK\r\nContent-Type: " + Handoff.CONTENT_TYPE + "\r\nContent-Length: 10000000000\r\n\r\n",
                o -> {})) {
            assertFallsBack(URI.create("http://127.0.0.1:" + s.getLocalPort()), "answer larger than", "--hybrid-timeout", "30");
        }
    }

    /** A body that trickles in is held to the same deadline as a server that never answers. */
    @Test
    void aTricklingBodyHitsTheDeadline() throws Exception {
        String head = "HTTP/1.1 200 OK\r\nContent-Type: " + Handoff.CONTENT_TYPE + "\r\nContent-Length: 5000\r\n\r\n";
        try (ServerSocket s = rawServer(head, o -> {
            try {
                for (int i = 0; i < 5000; i++) {
                    o.write(0);
                    o.flush();
                    Thread.sleep(100);
                }
            } catch (IOException | InterruptedException e) {
                // the client gave up
            }
        })) {
            long t0 = System.nanoTime();
            assertFallsBack(URI.create("http://127.0.0.1:" + s.getLocalPort()), "did not finish its answer within 2 s", "--hybrid-timeout", "2");
            assertTrue((System.nanoTime() - t0) / 1e9 < 60, "ends at the deadline, not after the 500 s trickle");
        }
    }

    /** Several servers: each failure hands over to the next, and the last resort is all-local. */
    @Test
    void failsOverBetweenServersThenToLocal() throws Exception {
        int closed;
        try (ServerSocket t = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = t.getLocalPort();
        }
        String busy = "{\"error\":{\"message\":\"server is busy\",\"code\":503}}";
        try (ServerSocket unavailable = rawServer("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                + "Content-Length: " + busy.length() + "\r\nConnection: close\r\n\r\n" + busy, o -> {})) {
            String urls = "http://127.0.0.1:" + closed + ",http://127.0.0.1:" + unavailable.getLocalPort() + "," + server.uri();
            Run local = cli(gen(small, "fo-local", "euler_a", "--steps", "5"));
            assertEquals(0, local.code, local.err);
            Run h = cli(gen(small, "fo", "euler_a", "--hybrid", urls, "--split", "2,3", "--api-key", TestServers.KEY, "--remote-model", "small"));
            assertEquals(0, h.code, h.err);
            assertTrue(h.err.contains("server ran steps 1-2") && h.err.contains("failed over to 127.0.0.1:" + server.port())
                    && h.err.contains("unreachable") && h.err.contains("503: server is busy"), h.err);
            assertArrayEquals(latents("fo-local"), latents("fo"), "the third server's steps continue the same trajectory");

            String dead = "http://127.0.0.1:" + closed + ",http://127.0.0.1:" + unavailable.getLocalPort();
            Run all = cli(gen(small, "fo-dead", "euler_a", "--hybrid", dead, "--split", "2,3", "--api-key", TestServers.KEY));
            assertEquals(0, all.code, all.err);
            assertTrue(all.err.contains("fell back to all 5 steps on the device") && all.err.contains("unreachable")
                    && all.err.contains("503"), all.err);
            assertArrayEquals(latents("fo-local"), latents("fo-dead"));
        }
    }

    @Test
    void serverKilledMidRequest() throws Exception {
        EdgeServer doomed = TestServers.start(Map.of("big", big), EdgeServer.Options.loopback(TestServers.KEY));
        URI url = doomed.uri();
        Thread killer = Thread.ofPlatform().start(() -> {
            try {
                for (int i = 0; i < 500; i++) {
                    var h = TestServers.get(url, "/health", TestServers.KEY);
                    if (h.body().contains("\"in_flight\":1")) break;
                    Thread.sleep(10);
                }
            } catch (Exception ignored) {
                // the server is going away anyway
            }
            doomed.close();
        });
        String name = "killed";
        Run r = cli(gen(small, name, "euler_a", "--hybrid", url.toString(), "--split", "150,0", "--api-key", TestServers.KEY,
                "--width", "128", "--height", "128"));
        killer.join();
        assertEquals(0, r.code, r.err);
        assertTrue(r.err.contains("fell back to all 150 steps on the device"), r.err);
        assertTrue(Files.exists(dir.resolve(name + ".png")));
    }

    @Test
    void handoffRoundTripAndChecks() throws Exception {
        var res = TestServers.postBytes(server.uri(), "/v1/hybrid/denoise", TestServers.KEY, """
                {"model":"big","prompt":"p","seed":3,"width":64,"height":64,"scheduler":"dpmpp_2m","cfg_scale":7.5,
                 "steps":5,"split":3,"return_embeddings":true,"nonce":"abc"}""");
        assertEquals(200, res.statusCode());
        assertEquals(Handoff.CONTENT_TYPE, res.headers().firstValue("Content-Type").orElse(""));
        Handoff h = Handoff.decode(res.body());
        assertEquals("big", h.model());
        assertEquals("abc", h.nonce());
        assertEquals(3, h.state().nextStep());
        assertEquals(5, h.state().numSteps());
        assertEquals(1, h.state().history().length > 0 ? 1 : 0, "DPM++ history travels");
        assertArrayEquals(new int[]{4, 8, 8}, h.latentShape());
        assertEquals(2, h.contextRows());
        assertEquals(2 * 77 * 64, h.context().length);
        assertTrue(res.body().length < 2 * 77 * 64 * 4 + 4 * 256 * 4 + 2000, "compact: raw floats, no JSON");
        Handoff again = Handoff.decode(h.encode());
        assertArrayEquals(h.latents(), again.latents());
        assertArrayEquals(new float[]{0.18215f, 0.18215f, 0.18215f, 0.18215f}, again.latentSpace().factor(), "the tiny VAE's scaling_factor");
        assertArrayEquals(new float[4], again.latentSpace().shift());
        assertEquals(h.state(), again.state());
        byte[] bad = res.body().clone();
        bad[20] ^= 1;
        assertThrows(Handoff.BadPayload.class, () -> Handoff.decode(bad));
        assertThrows(Handoff.BadPayload.class, () -> Handoff.decode(Arrays.copyOf(res.body(), 10)));
    }
}
