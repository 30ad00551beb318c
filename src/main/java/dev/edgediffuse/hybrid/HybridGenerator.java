package dev.edgediffuse.hybrid;

import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.PrintStream;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * The device side of hybrid generation: the server runs the first {@code split} steps (usually on a larger model),
 * the device verifies the handoff, continues the same trajectory on its own model and decodes with its own VAE.
 * Any failure of the server's part (unreachable, past the deadline, error status, bad or mismatched payload)
 * falls back to all steps on the device, and the outcome says why.
 */
public final class HybridGenerator {
    private static final SecureRandom NONCES = new SecureRandom();

    private HybridGenerator() {}

    /**
     * @param fallbackReason null when the server's steps were used
     * @param networkSeconds round trip minus the server's reported time
     * @param server         the endpoint that ran the server's steps, null on fallback
     * @param failedBefore   why the servers tried before it failed (several servers)
     */
    public record Outcome(GenerateResult result, String fallbackReason, int serverSteps, int deviceSteps,
                          double networkSeconds, double serverSeconds, double deviceSeconds, java.net.URI server,
                          List<String> failedBefore) {
        public boolean usedServer() {
            return fallbackReason == null;
        }

        public String summary() {
            if (!usedServer()) {
                return String.format("hybrid: fell back to all %d steps on the device (%s); device %.2f s", deviceSteps,
                        fallbackReason, deviceSeconds);
            }
            return String.format("hybrid: server ran steps 1-%d (%.2f s), network %.3f s, device ran %d steps + VAE (%.2f s)",
                    serverSteps, serverSeconds, networkSeconds, deviceSteps, deviceSeconds)
                    + (failedBefore.isEmpty() ? "" : "; failed over to " + server.getHost() + ":" + server.getPort()
                    + " after " + String.join("; ", failedBefore));
        }
    }

    public static Outcome generate(Denoiser device, GenerateRequest req, int split, HybridClient client, String remoteModel,
                                   boolean wantEmbeddings, PrintStream progress) {
        req.validate();
        if (split < 1 || split > req.steps()) {
            throw new IllegalArgumentException("--split must give the server 1.." + req.steps() + " steps, got " + split);
        }
        if (req.initImage() != null || req.initLatents() != null) {
            throw new IllegalArgumentException("--hybrid supports txt2img from a seed only (no --init-image / --init-latents)");
        }
        return run(device, req, split, req, client, remoteModel, wantEmbeddings, progress,
                (h, context) -> device.resume(req, h.state(), h.latents(), h.noiseDraws(), context));
    }

    /**
     * A teacher's first steps on the server, an LCM student's few steps here: the server runs {@code split} of
     * {@code teacherReq}'s steps; this device continues the latents from the timestep they reached with
     * {@code studentReq} (the lcm scheduler, its own step count) and decodes. Falls back to the student alone.
     */
    public static Outcome generateWithStudent(Denoiser device, GenerateRequest teacherReq, int split, GenerateRequest studentReq,
                                              HybridClient client, String remoteModel, boolean wantEmbeddings, PrintStream progress) {
        teacherReq.validate();
        studentReq.validate();
        if (split < 1 || split >= teacherReq.steps()) {
            throw new IllegalArgumentException("--split must give the server 1.." + (teacherReq.steps() - 1) + " of the teacher's "
                    + teacherReq.steps() + " steps, got " + split);
        }
        var schedule = device.scheduler(teacherReq.scheduler());
        schedule.setTimesteps(teacherReq.steps());
        int timestep = (int) schedule.timesteps()[split];
        return run(device, teacherReq, split, studentReq, client, remoteModel, wantEmbeddings, progress,
                (h, context) -> device.continueAt(studentReq, timestep, h.latents(), context));
    }

    /** How this device picks up a verified handoff (its prompt embeddings, or null to encode its own). */
    private interface Continuation {
        DenoiseSession start(Handoff h, float[] context);
    }

    /**
     * The server's {@code split} steps of {@code serverReq}, then this device's {@code deviceReq} from the handoff;
     * on any failure of the server's part, {@code deviceReq} from the start on this device alone.
     */
    private static Outcome run(Denoiser device, GenerateRequest serverReq, int split, GenerateRequest deviceReq, HybridClient client,
                               String remoteModel, boolean wantEmbeddings, PrintStream progress, Continuation continuation) {
        int[] shape = device.latentShape(deviceReq); // size errors are the user's, not the server's
        String nonce = HexFormat.of().formatHex(NONCES.generateSeed(8));
        String failure;
        try {
            long contextFloats = wantEmbeddings ? (long) serverReq.contextRows() * ClipTokenizer.MAX_LENGTH * device.contextDim() : 0;
            HybridClient.Reply reply = client.denoise(new HybridRequest(remoteModel, serverReq, split, wantEmbeddings, nonce),
                    Handoff.maxBytes(shape, serverReq.steps(), contextFloats),
                    h -> verify(h, serverReq, split, nonce, remoteModel, device, wantEmbeddings));
            Handoff h = reply.handoff();
            long t = System.nanoTime();
            DenoiseSession s;
            try {
                s = continuation.start(h, wantEmbeddings ? h.context() : null);
            } catch (RuntimeException e) {
                // a state this device cannot continue, however it fails: the server's part is dropped, not the image
                throw new HybridFailure("cannot continue the server's state: " + e.getMessage());
            }
            device.run(List.of(s), progress);
            GenerateResult r = device.finish(s);
            double deviceSeconds = (System.nanoTime() - t) / 1e9;
            double network = Math.max(0, reply.roundTripSeconds() - h.serverSeconds());
            return new Outcome(r, null, split, deviceReq.steps() - (deviceReq == serverReq ? split : 0), network, h.serverSeconds(),
                    deviceSeconds, reply.server(), reply.failedBefore());
        } catch (HybridFailure e) {
            failure = e.getMessage();
        }
        long t = System.nanoTime();
        DenoiseSession s = device.start(deviceReq);
        device.run(List.of(s), progress);
        GenerateResult r = device.finish(s);
        return new Outcome(r, failure, 0, deviceReq.steps(), 0, 0, (System.nanoTime() - t) / 1e9, null, List.of());
    }

    /** The payload must answer this very request; anything else is treated as garbage. */
    public static void verify(Handoff h, GenerateRequest req, int split, String nonce, String remoteModel, Denoiser device,
                       boolean wantEmbeddings) throws HybridFailure {
        if (!h.nonce().equals(nonce)) throw new HybridFailure("payload answers another request (nonce mismatch)");
        if (remoteModel != null && !remoteModel.isEmpty() && !h.model().equals(remoteModel)) {
            throw new HybridFailure("payload is from model '" + h.model() + "', asked for '" + remoteModel + "'");
        }
        if (h.seed() != req.seed() || h.width() != req.width() || h.height() != req.height() || h.totalSteps() != req.steps()
                || h.split() != split || Float.compare(h.cfg(), req.cfg()) != 0) {
            throw new HybridFailure("payload settings differ from the request");
        }
        if (!h.state().scheduler().equals(req.scheduler()) || h.state().nextStep() != split || h.state().numSteps() != req.steps()) {
            throw new HybridFailure("payload scheduler state is " + h.state() + ", expected " + req.scheduler() + " at step " + split);
        }
        int[] shape = device.latentShape(req);
        if (!Arrays.equals(shape, h.latentShape())) {
            throw new HybridFailure("payload latents are " + Arrays.toString(h.latentShape()) + ", this model needs " + Arrays.toString(shape));
        }
        for (float v : h.latents()) {
            if (!Float.isFinite(v)) throw new HybridFailure("payload latents contain NaN or infinite values");
        }
        for (float[] past : h.state().history()) {
            if (past == null) continue;
            if (past.length != h.latents().length) {
                throw new HybridFailure("payload scheduler history holds " + past.length + " values, the latents " + h.latents().length);
            }
            for (float v : past) {
                if (!Float.isFinite(v)) throw new HybridFailure("payload scheduler history contains NaN or infinite values");
            }
        }
        // models that share a latent shape may still scale their latents differently (another VAE or its statistics):
        // continuing would decode garbage
        if (!h.latentSpace().sameAs(device.latentSpace())) {
            throw new HybridFailure("payload latents are in another latent space: the server's VAE maps " + h.latentSpace()
                    + ", this model's " + device.latentSpace());
        }
        if (wantEmbeddings && h.context() == null) throw new HybridFailure("payload lacks the requested prompt embeddings");
        if (h.context() != null) {
            for (float v : h.context()) {
                if (!Float.isFinite(v)) throw new HybridFailure("payload embeddings contain NaN or infinite values");
            }
        }
    }
}
