package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.pipeline.GenerateRequest;

import java.nio.file.Path;

/** The image inputs a user hands generate: --init-image (PNG, JPEG) and --init-latents (.npy). */
class ImageInputsFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void png(byte[] bytes) {
        if (bytes == null) return; // Jazzer's first input
        Path p = Contract.file(".png", bytes);
        try {
            Contract.holds(() -> Images.read(p, GenerateRequest.MAX_SIDE), ModelFormatException.class);
        } finally {
            Contract.delete(p);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void npy(byte[] bytes) {
        if (bytes == null) return; // Jazzer's first input
        Contract.holds(() -> {
            Npy.Array a = Npy.parse("latents.npy", bytes);
            if (a.size() != a.data().length) throw new AssertionError("shape and data disagree");
        }, ModelFormatException.class);
    }
}
