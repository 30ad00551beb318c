package dev.edgediffuse.train;

import dev.edgediffuse.data.FashionMnist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A short run of every stage of the Mini's recipe, with f32 files so no bit is rounded away, writes the files the
 * 256-bit build wrote (recorded before the vector width became the machine's): the shipped model's training stays
 * reproducible on any width. CI checks it at the default width and under {@code -XX:MaxVectorSize=16}. The UNet's and
 * text encoder's prints were taken again at 256 bits ({@code -XX:MaxVectorSize=32}) when the captions widened (v8's
 * caption set changes what the diffusion stage draws); the default width gave the same ones.
 */
class TrainingBitsTest {
    @Test
    void everyStageWritesTheRecordedBits(@TempDir Path tmp) throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "Fashion-MNIST is not installed");
        Path recipe = Files.writeString(tmp.resolve("r.json"), """
                {"name": "bits", "config": "tiny", "data": "%s", "images": 64, "seed": 5, "checkpoint_seconds": 0, "dtype": "f32",
                 "vae": {"steps": 3, "batch": 4, "lr": 1e-3, "warmup": 1, "kl_weight": 1e-4},
                 "decoder": {"steps": 2, "batch": 4, "lr": 1e-3, "warmup": 1, "edge_weight": 0.5},
                 "decoder_adversarial": {"steps": 2, "batch": 4, "lr": 1e-3, "warmup": 1, "edge_weight": 0.5, "adversarial_weight": 0.05,
                  "feature_matching_weight": 0.5},
                 "diffusion": {"steps": 3, "batch": 4, "lr": 1e-3, "warmup": 1, "min_snr_gamma": 5}}
                """.formatted(FashionMnist.DEFAULT_DIR));
        Path out = tmp.resolve("model");
        new TextToImageTraining(Recipe.read(recipe), out, tmp.resolve("work"), null, null, new PrintStream(OutputStream.nullOutputStream())).run();
        String vae = sha256(out.resolve("vae/diffusion_pytorch_model.safetensors")),
                unet = sha256(out.resolve("unet/diffusion_pytorch_model.safetensors")),
                text = sha256(out.resolve("text_encoder/model.safetensors"));
        assertAll(() -> assertEquals("f7ff6a60df80781471e8d4f75f428ddfa492f0bd86c04f38b7982d9be8f325b2", vae, "vae"),
                () -> assertEquals("5f58ef53eff235abdc8e680512663b8110b2fe50d21372bfc2045160c82a83a9", unet, "unet"),
                () -> assertEquals("35ca1709157d7ad5b4e69d3b3b11e23eea54b5280d4b68405993c7c72a25fa46", text, "text encoder"));
    }

    private static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
