package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.model.unet.UNetOriginalNames;
import dev.edgediffuse.model.vae.VaeOriginalNames;
import dev.edgediffuse.tensor.Weight;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Stable Diffusion model as data: each component's config and named tensors (diffusers/transformers names), the
 * scheduler config, the tokenizer and the sampling defaults. Read from a diffusers folder or a single original-layout
 * .safetensors file (whose names are mapped onto the diffusers ones); transformed by compression passes, which
 * return new checkpoints (with new configs when they change the architecture); written by {@link CheckpointWriter};
 * opened by the pipeline straight from memory. Mapped weights stay valid until {@link #close()}; a checkpoint made
 * from another shares its files, so close the one you opened.
 */
public final class Checkpoint implements AutoCloseable {
    public final String name;
    public final Component unet, vae, text;
    public final Config schedulerConfig;
    /** A VAE that replaces the model's own for encoding and decoding (e.g. TAESD), or null. */
    public final Component vaeOverride;
    /** The tokenizer folder, or null to use the built-in SD vocabulary. */
    public final Path tokenizerDir;
    /** What requests that leave sampling settings out get (a folder's {@value SamplingDefaults#FILE}). */
    public final SamplingDefaults samplingDefaults;
    /** The folder or file it was read from (other files are carried over when it is written), or null. */
    public final Path origin;
    /** A single file's tensors outside the three components (e.g. model_ema.*), under their original names. */
    public final Map<String, ModelTensor> extras;
    private final List<AutoCloseable> resources;

    private Checkpoint(String name, Component unet, Component vae, Component text, Config schedulerConfig,
                       Component vaeOverride, Path tokenizerDir, SamplingDefaults samplingDefaults, Path origin,
                       Map<String, ModelTensor> extras, List<AutoCloseable> resources) {
        this.name = name;
        this.unet = unet;
        this.vae = vae;
        this.text = text;
        this.schedulerConfig = schedulerConfig;
        this.vaeOverride = vaeOverride;
        this.tokenizerDir = tokenizerDir;
        this.samplingDefaults = samplingDefaults;
        this.origin = origin;
        this.extras = Map.copyOf(extras);
        this.resources = resources;
    }

    /** A model made in memory (training, random weights): nothing to close, nothing to carry over. */
    public static Checkpoint of(String name, Component unet, Component vae, Component text, Config schedulerConfig,
                                SamplingDefaults defaults) {
        return new Checkpoint(name, unet, vae, text, schedulerConfig, null, null, defaults, null, Map.of(), new ArrayList<>());
    }

    public Checkpoint withUnet(Component c) {
        return new Checkpoint(name, require(c, Component.UNET), vae, text, schedulerConfig, vaeOverride, tokenizerDir,
                samplingDefaults, origin, extras, resources);
    }

    public Checkpoint withVae(Component c) {
        return new Checkpoint(name, unet, require(c, Component.VAE), text, schedulerConfig, vaeOverride, tokenizerDir,
                samplingDefaults, origin, extras, resources);
    }

    public Checkpoint withText(Component c) {
        return new Checkpoint(name, unet, vae, require(c, Component.TEXT_ENCODER), schedulerConfig, vaeOverride, tokenizerDir,
                samplingDefaults, origin, extras, resources);
    }

    /** The component of this kind replaced (unet, vae or text_encoder). */
    public Checkpoint with(Component c) {
        return switch (c.kind()) {
            case Component.UNET -> withUnet(c);
            case Component.VAE -> withVae(c);
            case Component.TEXT_ENCODER -> withText(c);
            default -> throw new IllegalArgumentException("unknown component kind " + c.kind());
        };
    }

    public Checkpoint withName(String n) {
        return new Checkpoint(n, unet, vae, text, schedulerConfig, vaeOverride, tokenizerDir, samplingDefaults, origin, extras, resources);
    }

    public Checkpoint withSamplingDefaults(SamplingDefaults d) {
        return new Checkpoint(name, unet, vae, text, schedulerConfig, vaeOverride, tokenizerDir, d, origin, extras, resources);
    }

    public Checkpoint withExtras(Map<String, ModelTensor> e) {
        return new Checkpoint(name, unet, vae, text, schedulerConfig, vaeOverride, tokenizerDir, samplingDefaults, origin, e, resources);
    }

    /** The three components, in the order they are written. */
    public List<Component> components() {
        return List.of(unet, vae, text);
    }

    /**
     * A replacement VAE folder (config.json + weights, e.g. TAESD as AutoencoderTiny) used for encoding and decoding;
     * its files close with this checkpoint.
     */
    public Checkpoint withVaeFolder(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": VAE folder not found");
        Config config = Config.read(dir.resolve("config.json"));
        Component override = component(Component.VAE, config, dir, "diffusion_pytorch_model", resources);
        return new Checkpoint(name, unet, vae, text, schedulerConfig, override, tokenizerDir, samplingDefaults, origin, extras, resources);
    }

    private static Component require(Component c, String kind) {
        if (!c.kind().equals(kind)) throw new IllegalArgumentException("a " + c.kind() + " component where the " + kind + " goes");
        return c;
    }

    /** Opens a diffusers folder or a single-file checkpoint; {@code configDir} (nullable) overrides a single file's configs. */
    public static Checkpoint open(Path path, Path configDir) {
        if (Files.isDirectory(path)) return openFolder(path);
        if (Files.isRegularFile(path)) return openSingleFile(path, configDir);
        throw new ModelFormatException(path + ": model not found (expected a diffusers folder or a .safetensors file)");
    }

    private static Checkpoint openFolder(Path dir) {
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            throw new ModelFormatException(dir + ": not a diffusers model folder (no model_index.json)");
        }
        List<AutoCloseable> files = new ArrayList<>();
        try {
            Config unetConfig = Config.read(folder(dir, Component.UNET).resolve("config.json"));
            Config vaeConfig = Config.read(folder(dir, Component.VAE).resolve("config.json"));
            Config textConfig = Config.read(folder(dir, Component.TEXT_ENCODER).resolve("config.json"));
            Config schedulerConfig = Config.read(folder(dir, "scheduler").resolve("scheduler_config.json"));
            SamplingDefaults defaults = SamplingDefaults.of(dir);
            Component unet = component(Component.UNET, unetConfig, dir.resolve(Component.UNET), "diffusion_pytorch_model", files);
            Component vae = component(Component.VAE, vaeConfig, dir.resolve(Component.VAE), "diffusion_pytorch_model", files);
            Component text = component(Component.TEXT_ENCODER, textConfig, dir.resolve(Component.TEXT_ENCODER), "model", files);
            Path tok = dir.resolve("tokenizer");
            return new Checkpoint(dir.getFileName().toString(), unet, vae, text, schedulerConfig, null,
                    Files.isRegularFile(tok.resolve("vocab.json")) ? tok : null, defaults, dir, Map.of(), files);
        } catch (RuntimeException e) {
            closeAll(files);
            throw e;
        }
    }

    private static Path folder(Path dir, String name) {
        Path c = dir.resolve(name);
        if (!Files.isDirectory(c)) throw new ModelFormatException(dir + ": component folder " + name + "/ is missing");
        return c;
    }

    /** A component's weights: {base}.safetensors, else {base}.fp16.safetensors. */
    private static Component component(String kind, Config config, Path dir, String base, List<AutoCloseable> files) {
        Path p = dir.resolve(base + ".safetensors");
        if (!Files.isRegularFile(p)) p = dir.resolve(base + ".fp16.safetensors");
        if (!Files.isRegularFile(p)) {
            throw new ModelFormatException(dir + ": no " + base + ".safetensors (only safetensors weights are supported)");
        }
        SafeTensors st = SafeTensors.open(p);
        files.add(st);
        return Component.of(kind, config, st.tensors(), p.toString());
    }

    static final String VAE_PREFIX = "first_stage_model.";
    static final String TEXT_PREFIX = "cond_stage_model.transformer.";

    private static Checkpoint openSingleFile(Path file, Path configDir) {
        SafeTensors st = SafeTensors.open(file);
        try {
            Map<String, Weight> all = st.tensors();
            if (all.keySet().stream().anyMatch(k -> k.startsWith("cond_stage_model.model."))) {
                throw new ModelFormatException(file + ": SD2.x single-file checkpoints (OpenCLIP text encoder layout) are not "
                        + "supported yet; use the model's diffusers folder");
            }
            if (all.keySet().stream().noneMatch(k -> k.startsWith(UNetOriginalNames.PREFIX))) {
                throw new ModelFormatException(file + ": not a Stable Diffusion checkpoint (no " + UNetOriginalNames.PREFIX + "* tensors)");
            }
            Config unetConfig = config(configDir, "unet/config.json");
            Config vaeConfig = config(configDir, "vae/config.json");
            Config textConfig = config(configDir, "text_encoder/config.json");
            Config schedulerConfig = config(configDir, "scheduler/scheduler_config.json");
            String src = file.toString();
            Map<String, Weight> unet = UNetOriginalNames.rename(all, unetConfig, src);
            Map<String, Weight> vae = VaeOriginalNames.toDiffusers(src, all, vaeConfig, VAE_PREFIX);
            Map<String, Weight> text = new LinkedHashMap<>();
            for (Map.Entry<String, Weight> e : all.entrySet()) {
                if (e.getKey().startsWith(TEXT_PREFIX)) text.put(e.getKey().substring(TEXT_PREFIX.length()), e.getValue());
            }
            Map<String, ModelTensor> extras = new LinkedHashMap<>();
            all.forEach((n, w) -> {
                if (!n.startsWith(UNetOriginalNames.PREFIX) && !n.startsWith(VAE_PREFIX) && !n.startsWith(TEXT_PREFIX)) {
                    extras.put(n, ModelTensor.of(w));
                }
            });
            String name = file.getFileName().toString().replaceFirst("\\.safetensors$", "");
            return new Checkpoint(name, Component.of(Component.UNET, unetConfig, unet, src), Component.of(Component.VAE, vaeConfig, vae, src),
                    Component.of(Component.TEXT_ENCODER, textConfig, text, src), schedulerConfig, null, null,
                    SamplingDefaults.forModel(file), file, extras, new ArrayList<>(List.of(st)));
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    /** A config from the override folder, else the built-in SD1.5 one. */
    private static Config config(Path configDir, String relative) {
        return configDir != null ? Config.read(configDir.resolve(relative)) : ModelConfigs.resource("sd15", relative);
    }

    /** Reads every weight file into memory ahead of use (model open → first step without page-fault stalls). */
    public void prefetch() {
        for (AutoCloseable r : resources) if (r instanceof SafeTensors st) st.prefetch();
    }

    @Override
    public void close() {
        closeAll(resources);
    }

    private static void closeAll(List<AutoCloseable> resources) {
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception ignored) {
                // unmapping cannot fail in a way the caller could act on
            }
        }
        resources.clear();
    }
}
