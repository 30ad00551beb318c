package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.hybrid.HybridClient;
import dev.edgediffuse.hybrid.HybridGenerator;
import dev.edgediffuse.hybrid.LocalSplit;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code generate --hybrid URL}: the server's first K steps, the rest here; all-local when the server fails.
 * {@code generate --hybrid-teacher M}: the same split on this machine, with M in the server's place.
 */
final class HybridOptions {
    @Option(names = "--hybrid", paramLabel = "URL[,URL...]", split = ",", description = "hybrid run: the server at URL (e.g. "
            + "https://host:7860) runs the first K steps on its model, this device the rest on --model; with several URLs a "
            + "failing server hands over to the next; all-local when every server fails")
    private List<String> urls;

    @Option(names = "--hybrid-teacher", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "hybrid on this machine, without a server: this model runs the first K steps, --model the rest")
    private String teacher;

    @Option(names = "--split", paramLabel = "K,M", description = "hybrid: K steps on the server, M here (total K+M); or --steps K,M")
    private String split;

    @Option(names = "--remote-model", paramLabel = "NAME", description = "hybrid: the server's model (default: the server's first)")
    private String remoteModel;

    @Option(names = "--remote-embeddings", description = "hybrid: use the server's prompt embeddings instead of this model's text encoder")
    private boolean remoteEmbeddings;

    @Option(names = "--hybrid-timeout", paramLabel = "S", defaultValue = "120", description = "hybrid: deadline for each server's "
            + "whole answer in seconds (default ${DEFAULT-VALUE})")
    private double timeout;

    @Option(names = "--teacher-steps", paramLabel = "N", defaultValue = "25", description = "hybrid with an LCM student as --model: "
            + "the server's teacher samples N steps (of which it runs K; --cfg-max-timestep applies to it) (default ${DEFAULT-VALUE})")
    private int teacherSteps;

    @Option(names = "--teacher-scheduler", paramLabel = "NAME", defaultValue = "ddim", description = "hybrid with an LCM student: the "
            + "teacher's scheduler (default ${DEFAULT-VALUE})")
    private String teacherScheduler;

    @Mixin
    private ApiKeyOptions apiKey;

    @Option(names = "--tls-truststore", paramLabel = "FILE", description = "hybrid: PKCS12 truststore for a self-signed server "
            + "(password: $EDGEDIFFUSE_TRUSTSTORE_PASSWORD)")
    private Path truststore;

    boolean requested() {
        return (urls != null && !urls.isEmpty()) || teacher != null;
    }

    int generate(GenerateCommand g, Path model, PrintStream out, PrintStream err) throws IOException {
        if (urls != null && !urls.isEmpty() && teacher != null) throw new UsageException("give either --hybrid URL or --hybrid-teacher, not both");
        int[] km = serverAndDeviceSteps(g.sampling.stepsGiven());
        int k = km[0], m = km[1];
        if (teacher != null) return local(g, model, k, m, out, err);
        List<URI> bases = new ArrayList<>();
        for (String url : urls) {
            try {
                URI base = URI.create(url.trim());
                if (base.getScheme() == null || !(base.getScheme().equals("http") || base.getScheme().equals("https")) || base.getHost() == null) {
                    throw new IllegalArgumentException();
                }
                bases.add(base);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--hybrid must be http:// or https:// URLs, got '" + url + "'");
            }
        }
        if (!(timeout > 0) || timeout > 86_400) throw new UsageException("--hybrid-timeout must be in (0, 86400] seconds");
        try (HybridClient client = new HybridClient(bases, apiKey.key(), Duration.ofMillis((long) (timeout * 1000)), trust(truststore));
             Denoiser d = Denoiser.load(model, g.load.options())) {
            if (d.consistencyModel()) return withStudent(g, d, k, m, client, out, err);
            GenerateRequest req = g.request(d.defaultImageSize(), k + m, d.samplingDefaults());
            HybridGenerator.Outcome o = HybridGenerator.generate(d, req, k, client, remoteModel, remoteEmbeddings, g.quiet ? null : err);
            var r = o.result();
            if (g.saveLatents != null) Npy.write(g.saveLatents, r.latentsNchw(), r.latentShape());
            String params = req.parametersText(d.modelName()) + (o.usedServer()
                    ? ", Hybrid: " + k + " steps on " + o.server().getHost() + ", " + m + " on device" : ", Hybrid: fell back to device");
            Png.write(g.outPath, Images.toRgb(r.image(), 0), r.image().width(), r.image().height(), Map.of("parameters", params));
            out.println("wrote " + g.outPath + " (" + r.image().width() + "x" + r.image().height() + ")");
            err.println(o.summary());
            return 0;
        }
    }

    /** The teacher's K steps and the device model's M on this machine, the sessions handed over as from a server. */
    private int local(GenerateCommand g, Path model, int k, int m, PrintStream out, PrintStream err) throws IOException {
        Path teacherPath = BuiltInModel.resolve(teacher, err);
        try (Denoiser d = Denoiser.load(model, g.load.options()); Denoiser t = Denoiser.load(teacherPath, Pipeline.Options.DEFAULT)) {
            GenerateRequest req = g.request(d.defaultImageSize(), k + m, d.samplingDefaults());
            LocalSplit.Result r = LocalSplit.run(t, d, List.of(req), k);
            GenerateResult res = d.finish(r.sessions().getFirst());
            if (g.saveLatents != null) Npy.write(g.saveLatents, res.latentsNchw(), res.latentShape());
            String params = req.parametersText(d.modelName()) + ", Hybrid: " + k + " steps on " + t.modelName() + ", " + m + " on device";
            Png.write(g.outPath, Images.toRgb(res.image(), 0), res.image().width(), res.image().height(), Map.of("parameters", params));
            out.println("wrote " + g.outPath + " (" + res.image().width() + "x" + res.image().height() + ")");
            err.printf(java.util.Locale.ROOT, "hybrid (local): %s ran steps 1-%d (UNet %.2f s), %s ran %d steps (UNet %.2f s) + VAE (%.2f s)%n",
                    t.modelName(), k, r.teacherUnetSeconds(), d.modelName(), m, r.studentUnetSeconds(), res.timings().vaeSeconds());
            return 0;
        }
    }

    /** --model is an LCM student: K of the server teacher's --teacher-steps, then M LCM steps here. */
    private int withStudent(GenerateCommand g, Denoiser d, int k, int m, HybridClient client, PrintStream out, PrintStream err)
            throws IOException {
        if (m < 1) throw new UsageException("--split K,M: an LCM student needs M >= 1 steps");
        if (k >= teacherSteps) throw new UsageException("--split K,M: K must be below --teacher-steps " + teacherSteps);
        GenerateRequest student = g.request(d.defaultImageSize(), m, d.samplingDefaults()).withScheduler("lcm");
        GenerateRequest teacher = student.withSteps(teacherSteps).withScheduler(teacherScheduler);
        HybridGenerator.Outcome o = HybridGenerator.generateWithStudent(d, teacher, k, student, client, remoteModel, remoteEmbeddings,
                g.quiet ? null : err);
        var r = o.result();
        if (g.saveLatents != null) Npy.write(g.saveLatents, r.latentsNchw(), r.latentShape());
        String params = student.parametersText(d.modelName()) + (o.usedServer()
                ? ", Hybrid: " + k + " of " + teacherSteps + " " + teacherScheduler + " steps on " + o.server().getHost() + ", " + m + " LCM steps on device"
                : ", Hybrid: fell back to device");
        Png.write(g.outPath, Images.toRgb(r.image(), 0), r.image().width(), r.image().height(), Map.of("parameters", params));
        out.println("wrote " + g.outPath + " (" + r.image().width() + "x" + r.image().height() + ")");
        err.println(o.summary());
        return 0;
    }

    /** K and M, from --split K,M or --steps K,M (both only if they agree). */
    private int[] serverAndDeviceSteps(String steps) {
        if (split != null && steps != null && !split.equals(steps)) throw new UsageException("give either --split K,M or --steps K,M, not both");
        String km = split != null ? split : steps;
        if (km == null || !km.contains(",")) throw new UsageException("--hybrid needs --split K,M (K steps on the server, M on this device)");
        String[] parts = km.split(",", -1);
        int k, m;
        try {
            if (parts.length != 2) throw new NumberFormatException();
            k = Integer.parseInt(parts[0].trim());
            m = Integer.parseInt(parts[1].trim());
        } catch (NumberFormatException e) {
            throw new UsageException("--split must be K,M with two integers, got '" + km + "'");
        }
        int least = teacher != null ? 0 : 1;
        if (k < least || m < 0) throw new UsageException("--split K,M needs K >= " + least + " and M >= 0, got '" + km + "'");
        return new int[]{k, m};
    }

    /** An SSL context trusting the certificates in a PKCS12 store, or null for the JDK defaults. */
    private static SSLContext trust(Path store) {
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
