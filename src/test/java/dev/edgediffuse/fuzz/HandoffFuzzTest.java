package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.hybrid.Handoff;
import dev.edgediffuse.hybrid.HybridFailure;
import dev.edgediffuse.hybrid.HybridGenerator;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The hybrid handoff as the device receives it: decoded, checked against the request it answers, and continued on
 * the device's model. (The server's side, the request JSON, is {@link RequestFuzzTest}'s.) The fuzzer's bytes get a
 * correct length and checksum, so it explores the structure behind them rather than the CRC gate.
 */
class HandoffFuzzTest {
    private static Denoiser device;
    static final GenerateRequest REQUEST = GenerateRequest.of("a fox").withSize(64, 64).withSteps(4).withScheduler("dpmpp_2m").withSeed(3);

    private static synchronized Denoiser device() {
        if (device == null) {
            try {
                Path dir = Files.createTempDirectory("edgediffuse-fuzz-model").resolve("tiny");
                RandomCheckpoint.writeFolder(dir, ModelConfigs.builtIn("tiny"), DType.F32, 7);
                device = Denoiser.load(dir, Pipeline.Options.DEFAULT);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return device;
    }

    /** Raw bytes with their length field and checksum made right. */
    @FuzzTest(maxDuration = "30s")
    void decode(byte[] bytes) {
        if (bytes == null) return; // Jazzer's first input
        check(sealed(bytes));
    }

    /** A real handoff for {@link #REQUEST} with fuzzer-chosen bytes overwritten, then sealed again. */
    @FuzzTest(maxDuration = "30s")
    void mutateReal(FuzzedDataProvider data) {
        byte[] real = real();
        int edits = data.consumeInt(1, 8);
        for (int i = 0; i < edits && data.remainingBytes() > 4; i++) {
            real[data.consumeInt(12, real.length - 5)] = data.consumeByte();
        }
        check(sealed(real));
    }

    private static byte[] real;

    private static synchronized byte[] real() {
        if (real == null) {
            Denoiser d = device();
            DenoiseSession s = d.start(REQUEST);
            d.step(List.of(s));
            d.step(List.of(s));
            real = new Handoff("tiny", "nonce", REQUEST.seed(), 64, 64, REQUEST.steps(), 2, REQUEST.cfg(), s.schedulerState(),
                    s.noiseDraws(), s.latentShape(), s.latents(), d.latentSpace(), s.rows(), s.contextTokens(), s.context(), 0.5).encode();
        }
        return real.clone();
    }

    private static byte[] sealed(byte[] bytes) {
        if (bytes.length < 16) return bytes;
        ByteBuffer.wrap(bytes).putInt(8, bytes.length);
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        ByteBuffer.wrap(bytes).putInt(bytes.length - 4, (int) crc.getValue());
        return bytes;
    }

    /** Decoded, verified and continued for one step; every refusal a one-line reason the device falls back on. */
    private static void check(byte[] bytes) {
        Handoff h;
        try {
            h = Handoff.decode(bytes);
        } catch (Handoff.BadPayload e) {
            Contract.oneLine(e);
            return;
        }
        Denoiser d = device();
        try {
            HybridGenerator.verify(h, REQUEST, 2, "nonce", null, d, false);
        } catch (HybridFailure e) {
            Contract.oneLine(e);
            return;
        }
        Contract.holds(() -> {
            DenoiseSession s = d.resume(REQUEST, h.state(), h.latents(), h.noiseDraws(), null);
            d.step(List.of(s));
        }, IllegalArgumentException.class, IllegalStateException.class);
    }
}
