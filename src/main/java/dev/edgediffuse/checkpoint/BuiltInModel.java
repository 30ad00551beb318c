package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.ModelFormatException;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.zip.CRC32;

/**
 * A model folder that ships inside the jar and is unpacked once into the user's cache, because weights are
 * memory-mapped from a file. The text-to-image ones have short names ({@link #names()}) that every command's --model
 * and every server request's model take. {@link #MINI} ("mini") is used when no --model is given: EdgeDiffuse-Mini, a
 * small Stable Diffusion (same components, diffusers layout) trained here on Fashion-MNIST by
 * {@code edgediffuse train --recipe recipes/mini.json}. {@link #FASHION_CLASSIFIER} is the evaluator's yardstick,
 * trained by {@code edgediffuse train-classifier}.
 */
public record BuiltInModel(String name, String resource, List<String> files) {
    public static final BuiltInModel MINI = new BuiltInModel("edgediffuse-mini-v8", "/dev/edgediffuse/models/mini/",
            List.of("model_index.json", SamplingDefaults.FILE, "scheduler/scheduler_config.json", "text_encoder/config.json",
                    "text_encoder/model.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                    "vae/config.json", "vae/diffusion_pytorch_model.safetensors"));
    /**
     * EdgeDiffuse-Mini-tiny: the Mini's UNet cut by BK-SDM's tiny preset and Hybrid SD's significance pruning to 30% of
     * its multiply-adds and distilled from it ({@code edgediffuse distill --recipe recipes/mini-tiny.json}); the device
     * half of a hybrid pair with the Mini.
     */
    public static final BuiltInModel MINI_TINY = new BuiltInModel("edgediffuse-mini-tiny-v1", "/dev/edgediffuse/models/mini-tiny/",
            List.of("model_index.json", SamplingDefaults.FILE, "scheduler/scheduler_config.json", "text_encoder/config.json",
                    "text_encoder/model.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                    "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "recipe.json"));
    /**
     * EdgeDiffuse-Mini-LCM: the Mini's UNet distilled into a latent consistency model with the guidance scale as an
     * input ({@code edgediffuse distill-lcm --recipe recipes/mini-lcm.json}); samples with {@code lcm} in 4 steps.
     */
    public static final BuiltInModel MINI_LCM = new BuiltInModel("edgediffuse-mini-lcm-v1", "/dev/edgediffuse/models/mini-lcm/",
            MINI_TINY.files());
    /**
     * The LCM-LoRA of the Mini ({@code edgediffuse distill-lcm --recipe recipes/mini-lcm-lora.json}): {@code --lora
     * mini-lcm-lora} on the Mini, the {@code lcm} scheduler, 4 steps, CFG 1.
     */
    public static final BuiltInModel MINI_LCM_LORA = new BuiltInModel("mini-lcm-lora-v1", "/dev/edgediffuse/loras/mini-lcm-lora/",
            List.of("mini-lcm-lora.safetensors"));
    public static final BuiltInModel FASHION_CLASSIFIER = new BuiltInModel("fashion-classifier-v1",
            "/dev/edgediffuse/models/fashion-classifier/", List.of("config.json", "model.safetensors", "train.log"));

    /** The built-in model used when a command is given no --model. */
    public static final String DEFAULT = "mini";

    /** The built-in text-to-image models by their short names: one entry per model. */
    private static final SortedMap<String, BuiltInModel> BY_NAME = new TreeMap<>(Map.of(DEFAULT, MINI, "mini-tiny", MINI_TINY, "mini-lcm", MINI_LCM));

    /** The built-in LoRAs by the names {@code --lora} takes. */
    private static final SortedMap<String, BuiltInModel> LORAS = new TreeMap<>(Map.of("mini-lcm-lora", MINI_LCM_LORA));

    /** The short names of the built-in text-to-image models, sorted. */
    public static List<String> names() {
        return List.copyOf(BY_NAME.keySet());
    }

    /** The built-in text-to-image model with this short name, or null. */
    public static BuiltInModel named(String name) {
        return BY_NAME.get(name);
    }

    /**
     * A model as a command or request names it: an existing file or folder as it is, else a built-in model's short
     * name, unpacked on first use (so a folder called "mini" in the working directory wins over the built-in).
     */
    public static Path resolve(String model, PrintStream log) {
        Path path = Path.of(model);
        if (Files.exists(path)) return path;
        BuiltInModel builtIn = named(model);
        if (builtIn != null) return builtIn.unpack(log);
        throw new ModelFormatException(model + ": model not found (expected a diffusers folder, a .safetensors file or a "
                + "built-in model: " + String.join(", ", names()) + ")");
    }

    /** The names of the built-in LoRAs, sorted. */
    public static List<String> loraNames() {
        return List.copyOf(LORAS.keySet());
    }

    /**
     * A LoRA as {@code --lora} names it: an existing file as it is, else a built-in LoRA's name (its file, unpacked on
     * first use); anything else is returned unchanged, for the loader to report as missing.
     */
    public static Path resolveLora(Path file, PrintStream log) {
        if (Files.exists(file) || file.getNameCount() != 1) return file;
        BuiltInModel builtIn = LORAS.get(file.toString());
        return builtIn == null ? file : builtIn.unpack(log).resolve(builtIn.files().getFirst());
    }

    /** The folder of the built-in EdgeDiffuse-Mini. */
    public static Path path(PrintStream log) {
        return MINI.unpack(log);
    }

    /**
     * The unpacked folder in the user's cache ($XDG_CACHE_HOME or ~/.cache), unpacking it first if needed: when it is
     * missing, or when a file differs from the jar's in size or CRC-32 (an older build's copy, a truncated file).
     */
    public Path unpack(PrintStream log) {
        String cache = System.getenv("XDG_CACHE_HOME");
        return unpack(cache != null ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache"), log);
    }

    Path unpack(Path cacheRoot, PrintStream log) {
        Path parent = cacheRoot.resolve("edgediffuse"), dir = parent.resolve(name);
        if (matchesJar(dir)) return dir;
        try {
            Path tmp = Files.createDirectories(parent).resolve(name + ".tmp-" + ProcessHandle.current().pid());
            try {
                for (String f : files) {
                    try (InputStream in = BuiltInModel.class.getResourceAsStream(resource + f)) {
                        if (in == null) throw new IllegalStateException("the built-in " + name + " is missing " + f + " (a broken build?)");
                        Files.createDirectories(tmp.resolve(f).getParent());
                        Files.copy(in, tmp.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            } catch (IOException | RuntimeException e) {
                deleteTree(tmp); // a full disk must not leave a half-written folder behind
                throw e;
            }
            // a stale copy moves aside first; the new one appears whole, by one rename
            if (Files.exists(dir)) {
                Path old = parent.resolve(name + ".old-" + ProcessHandle.current().pid());
                Files.move(dir, old);
                deleteTree(old);
            }
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                deleteTree(tmp);
                if (!matchesJar(dir)) throw raced;
            }
            if (log != null) log.println("unpacked the built-in " + name + " to " + dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Whether every file is in {@code dir} with the size and CRC-32 of the jar's copy (an older build's copy of the
     * same size, e.g. retrained f16 weights, is stale too). A jar states each entry's CRC; a class-path folder's
     * file (tests, IDE runs) is read to get it.
     */
    private boolean matchesJar(Path dir) {
        try {
            for (String f : files) {
                URL url = BuiltInModel.class.getResource(resource + f);
                Path file = dir.resolve(f);
                if (url == null || !Files.isRegularFile(file)) return false;
                URLConnection c = url.openConnection();
                if (Files.size(file) != c.getContentLengthLong()) return false;
                long expected;
                if (c instanceof JarURLConnection jar) {
                    expected = jar.getJarEntry().getCrc();
                } else {
                    try (InputStream in = c.getInputStream()) {
                        expected = crc32(in);
                    }
                }
                try (InputStream in = Files.newInputStream(file)) {
                    if (expected < 0 || crc32(in) != expected) return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static long crc32(InputStream in) throws IOException {
        CRC32 crc = new CRC32();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
        return crc.getValue();
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
