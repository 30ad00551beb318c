package dev.edgediffuse.server;

import dev.edgediffuse.hybrid.HybridClient;
import dev.edgediffuse.hybrid.HybridFailure;
import dev.edgediffuse.hybrid.HybridRequest;
import dev.edgediffuse.pipeline.GenerateRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** HTTPS from a keystore: the hybrid exchange works over TLS with the server's certificate trusted, and only then. */
class TlsTest {
    @TempDir
    Path dir;

    @Test
    void hybridOverTls() throws Exception {
        Path ks = dir.resolve("server.p12");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-genkeypair",
                "-alias", "edge", "-keyalg", "EC", "-groupname", "secp256r1", "-keystore", ks.toString(), "-storetype", "PKCS12",
                "-storepass", "changeit", "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1", "-validity", "2")
                .redirectErrorStream(true).start();
        assertEquals(0, p.waitFor(), new String(p.getInputStream().readAllBytes()));
        var o = EdgeServer.Options.loopback(TestServers.KEY).withTls(ks, "changeit");
        try (EdgeServer s = TestServers.start(Map.of("t", TestServers.model(dir, 7)), o)) {
            assertEquals("https", s.uri().getScheme());
            GenerateRequest g = GenerateRequest.of("p").withSize(64, 64).withSteps(4);
            HybridRequest r = new HybridRequest(null, g, 2, false, "n1");
            var reply = new HybridClient(s.uri(), TestServers.KEY, Duration.ofSeconds(20), trusting(ks)).denoise(r);
            assertEquals(2, reply.handoff().state().nextStep());
            HybridFailure f = assertThrows(HybridFailure.class,
                    () -> new HybridClient(s.uri(), TestServers.KEY, Duration.ofSeconds(20), null).denoise(r));
            assertTrue(f.getMessage().contains("TLS") || f.getMessage().contains("connection failed"), f.getMessage());
            HybridFailure plain = assertThrows(HybridFailure.class, () -> new HybridClient(URI.create("http://127.0.0.1:" + s.port()),
                    TestServers.KEY, Duration.ofSeconds(5), null).denoise(r));
            assertNotNull(plain.getMessage());
        }
    }

    private static SSLContext trusting(Path keystore) throws Exception {
        KeyStore src = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keystore)) {
            src.load(in, "changeit".toCharArray());
        }
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("edge", src.getCertificate("edge"));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }
}
