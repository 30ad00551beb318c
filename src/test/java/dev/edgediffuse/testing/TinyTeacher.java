package dev.edgediffuse.testing;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.tensor.DType;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A random-weight teacher with the Mini's shape in miniature, for pruning and distillation tests: a UNet of three
 * stages [16, 32, 32] (cross-attention in the outer two, a mid block, one layer per down stage, two attention heads,
 * 8 norm groups), the Mini's VAE config (32-pixel images, 8×8 latents) and the tiny text encoder; optionally with
 * {@code layers_per_block} 2, as SD's teachers have.
 */
public final class TinyTeacher {
    private TinyTeacher() {}

    public static Config unet(int layersPerBlock) {
        return Config.parse("tiny teacher unet", """
                {"_class_name": "UNet2DConditionModel", "attention_head_dim": 2, "block_out_channels": [16, 32, 32],
                 "cross_attention_dim": 64, "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                 "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], "in_channels": 4, "out_channels": 4,
                 "layers_per_block": %d, "norm_num_groups": 8, "sample_size": 8}""".formatted(layersPerBlock));
    }

    /** Writes the teacher (f32 weights of {@code seed}) as a diffusers folder. */
    public static Path write(Path dir, int layersPerBlock, long seed) throws IOException {
        ModelConfigs mini = ModelConfigs.builtIn("mini"), tiny = ModelConfigs.builtIn("tiny");
        ModelConfigs c = new ModelConfigs(unet(layersPerBlock), mini.vae(), tiny.text(), mini.scheduler());
        RandomCheckpoint.writeFolder(dir, c, DType.F32, seed);
        Files.writeString(dir.resolve("sampling_defaults.json"), Json.write(java.util.Map.of("steps", 4, "scheduler", "ddim", "cfg_scale", 2.0)));
        return dir;
    }

    /** A folder of {@code n} 32×32 PNG images, each with a .txt caption naming its shape. */
    public static Path captionedImages(Path dir, int n) throws IOException {
        Files.createDirectories(dir);
        for (int i = 0; i < n; i++) {
            BufferedImage img = new BufferedImage(40, 32, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 40; x++) {
                    boolean inside = Math.abs(y - 16) < 3 + i % 5 && Math.abs(x - 20) < 12 - i % 5;
                    img.setRGB(x, y, inside ? 0xC0C0C0 : 0x202020 + (i * 7 % 16));
                }
            ImageIO.write(img, "png", dir.resolve("img" + i + ".png").toFile());
            Files.writeString(dir.resolve("img" + i + ".txt"), "a photo of a " + (i % 2 == 0 ? "sneaker" : "dress") + "\n");
        }
        return dir;
    }
}
