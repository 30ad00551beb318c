package dev.edgediffuse.cli;

import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.hybrid.HybridClient;
import dev.edgediffuse.hybrid.HybridGenerator;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Map;

/** {@code generate --hybrid URL}: the server's first K steps, the rest here; all-local when the server fails. */
final class HybridGenerate {
    private HybridGenerate() {}

    static int run(Args a, Path model, Path outPath, PrintStream out, PrintStream err) {
        String split = a.get("--split", a.get("--steps", null));
        if (split == null || !split.contains(",")) {
            throw new Args.UsageException("--hybrid needs --split K,M (K steps on the server, M on this device)");
        }
        String[] parts = split.split(",", -1);
        int k, m;
        try {
            if (parts.length != 2) throw new NumberFormatException();
            k = Integer.parseInt(parts[0].trim());
            m = Integer.parseInt(parts[1].trim());
        } catch (NumberFormatException e) {
            throw new Args.UsageException("--split must be K,M with two integers, got '" + split + "'");
        }
        if (k < 1 || m < 0) throw new Args.UsageException("--split K,M needs K >= 1 and M >= 0, got '" + split + "'");
        if (a.has("--split") && a.has("--steps") && !a.get("--steps", "").equals(split)) {
            throw new Args.UsageException("give either --split K,M or --steps K,M, not both");
        }
        URI base;
        try {
            base = URI.create(a.get("--hybrid", ""));
            if (base.getScheme() == null || !(base.getScheme().equals("http") || base.getScheme().equals("https")) || base.getHost() == null) {
                throw new IllegalArgumentException();
            }
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("--hybrid must be an http:// or https:// URL, got '" + a.get("--hybrid", "") + "'");
        }
        double timeout = a.getFloat("--hybrid-timeout", 120f);
        if (!(timeout > 0)) throw new Args.UsageException("--hybrid-timeout must be > 0 seconds");
        HybridClient client = new HybridClient(base, apiKey(a), Duration.ofMillis((long) (timeout * 1000)), trust(a.path("--tls-truststore")));

        try (Denoiser d = Denoiser.load(model, new Pipeline.Options(a.path("--config"), a.path("--vae")))) {
            GenerateRequest req = GenerateCommand.request(a, d.defaultImageSize(), k + m, d.samplingDefaults());
            HybridGenerator.Outcome o = HybridGenerator.generate(d, req, k, client, a.get("--remote-model", null),
                    a.has("--remote-embeddings"), a.has("--quiet") ? null : err);
            var r = o.result();
            if (a.has("--save-latents")) Npy.write(a.path("--save-latents"), r.latentsNchw(), r.latentShape());
            String params = req.parametersText(d.modelName()) + (o.usedServer()
                    ? ", Hybrid: " + k + " steps on " + base.getHost() + ", " + m + " on device" : ", Hybrid: fell back to device");
            Png.write(outPath, Images.toRgb(r.image(), 0), r.image().width(), r.image().height(), Map.of("parameters", params));
            out.println("wrote " + outPath + " (" + r.image().width() + "x" + r.image().height() + ")");
            err.println(o.summary());
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String apiKey(Args a) {
        if (a.has("--api-key")) return a.get("--api-key", null);
        String var = a.get("--api-key-env", "EDGEDIFFUSE_API_KEY");
        String v = System.getenv(var);
        if (v == null && a.has("--api-key-env")) throw new Args.UsageException("--api-key-env: $" + var + " is not set");
        return v;
    }

    /** An SSL context trusting the certificates in a PKCS12 store, or null for the JDK defaults. */
    static SSLContext trust(Path store) {
        if (store == null) return null;
        if (!Files.isRegularFile(store)) throw new IllegalArgumentException("--tls-truststore " + store + ": file not found");
        String pw = System.getenv("EDGEDIFFUSE_TRUSTSTORE_PASSWORD");
        try (InputStream in = Files.newInputStream(store)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, pw == null ? null : pw.toCharArray());
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException("--tls-truststore " + store + ": " + e.getMessage());
        }
    }
}
