package dev.edgediffuse.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The model used when no --model is given: EdgeDiffuse-Mini, a small Stable Diffusion (same components, diffusers
 * layout) trained here on Fashion-MNIST by {@code edgediffuse train --recipe recipes/mini.json}. It ships inside the
 * jar and is unpacked once into the user's cache, because weights are memory-mapped from a file.
 */
public final class BuiltInModel {
    public static final String NAME = "edgediffuse-mini-v1";
    private static final String RESOURCE = "/dev/edgediffuse/models/mini/";
    private static final String[] FILES = {"model_index.json", "scheduler/scheduler_config.json",
            "text_encoder/config.json", "text_encoder/model.safetensors", "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors"};

    private BuiltInModel() {}

    public static Path path(PrintStream log) {
        String cache = System.getenv("XDG_CACHE_HOME");
        Path root = cache != null ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache");
        Path dir = root.resolve("edgediffuse").resolve(NAME);
        if (Files.isRegularFile(dir.resolve("model_index.json"))) return dir;
        try {
            Path tmp = Files.createDirectories(root.resolve("edgediffuse")).resolve(NAME + ".tmp-" + ProcessHandle.current().pid());
            for (String f : FILES) {
                try (InputStream in = BuiltInModel.class.getResourceAsStream(RESOURCE + f)) {
                    if (in == null) throw new IllegalStateException("the built-in model is missing " + f + " (a broken build?)");
                    Files.createDirectories(tmp.resolve(f).getParent());
                    Files.copy(in, tmp.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(dir.resolve("model_index.json"))) throw raced;
            }
            if (log != null) log.println("unpacked the built-in model to " + dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
