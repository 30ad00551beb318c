package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.model.unet.UNetOriginalNames;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.VaeOriginalNames;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Weight;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of a Stable Diffusion checkpoint, whatever its layout: each component's config and its weights under
 * diffusers/transformers names. Reads (a) a diffusers folder and (b) a single original-layout .safetensors file,
 * whose names are mapped onto the diffusers ones. Weights stay memory-mapped until {@link #close()}.
 */
public final class Checkpoint implements AutoCloseable {
    public final String name;
    public final Config unetConfig, vaeConfig, textConfig, schedulerConfig;
    public final Weights unet, vae, text;
    /** The tokenizer folder, or null to use the built-in SD vocabulary. */
    public final Path tokenizerDir;
    /** What requests that leave sampling settings out get (a folder's {@value SamplingDefaults#FILE}). */
    public final SamplingDefaults samplingDefaults;
    private final List<SafeTensors> files;

    private Checkpoint(String name, Config unetConfig, Config vaeConfig, Config textConfig, Config schedulerConfig,
                       Weights unet, Weights vae, Weights text, Path tokenizerDir, SamplingDefaults samplingDefaults,
                       List<SafeTensors> files) {
        this.name = name;
        this.unetConfig = unetConfig;
        this.vaeConfig = vaeConfig;
        this.textConfig = textConfig;
        this.schedulerConfig = schedulerConfig;
        this.unet = unet;
        this.vae = vae;
        this.text = text;
        this.tokenizerDir = tokenizerDir;
        this.samplingDefaults = samplingDefaults;
        this.files = files;
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
        List<SafeTensors> files = new ArrayList<>();
        try {
            Config unetConfig = Config.read(component(dir, "unet").resolve("config.json"));
            Config vaeConfig = Config.read(component(dir, "vae").resolve("config.json"));
            Config textConfig = Config.read(component(dir, "text_encoder").resolve("config.json"));
            Config schedulerConfig = Config.read(component(dir, "scheduler").resolve("scheduler_config.json"));
            SamplingDefaults defaults = SamplingDefaults.of(dir);
            Weights unet = weights(dir.resolve("unet"), "diffusion_pytorch_model", files);
            Weights vae = weights(dir.resolve("vae"), "diffusion_pytorch_model", files);
            Weights text = weights(dir.resolve("text_encoder"), "model", files);
            Path tok = dir.resolve("tokenizer");
            return new Checkpoint(dir.getFileName().toString(), unetConfig, vaeConfig, textConfig, schedulerConfig,
                    unet, vae, text, Files.isRegularFile(tok.resolve("vocab.json")) ? tok : null, defaults, files);
        } catch (RuntimeException e) {
            files.forEach(SafeTensors::close);
            throw e;
        }
    }

    private static Path component(Path dir, String name) {
        Path c = dir.resolve(name);
        if (!Files.isDirectory(c)) throw new ModelFormatException(dir + ": component folder " + name + "/ is missing");
        return c;
    }

    /** A component's weights: {base}.safetensors, else {base}.fp16.safetensors. */
    private static Weights weights(Path dir, String base, List<SafeTensors> files) {
        Path p = dir.resolve(base + ".safetensors");
        if (!Files.isRegularFile(p)) p = dir.resolve(base + ".fp16.safetensors");
        if (!Files.isRegularFile(p)) {
            throw new ModelFormatException(dir + ": no " + base + ".safetensors (only safetensors weights are supported)");
        }
        SafeTensors st = SafeTensors.open(p);
        files.add(st);
        return new Weights(p.toString(), st.tensors());
    }

    private static final String VAE_PREFIX = "first_stage_model.";
    private static final String TEXT_PREFIX = "cond_stage_model.transformer.";

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
            Weights unet = new Weights(src, UNetOriginalNames.rename(all, unetConfig, src));
            Weights vae = new Weights(src, VaeOriginalNames.toDiffusers(src, all, vaeConfig, VAE_PREFIX));
            Map<String, Weight> textMap = new HashMap<>();
            for (Map.Entry<String, Weight> e : all.entrySet()) {
                if (e.getKey().startsWith(TEXT_PREFIX)) textMap.put(e.getKey().substring(TEXT_PREFIX.length()), e.getValue());
            }
            Weights text = new Weights(src, textMap);
            String name = file.getFileName().toString().replaceFirst("\\.safetensors$", "");
            return new Checkpoint(name, unetConfig, vaeConfig, textConfig, schedulerConfig, unet, vae, text, null,
                    SamplingDefaults.forModel(file), List.of(st));
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    /** A config from the override folder, else the built-in SD1.5 one. */
    private static Config config(Path configDir, String relative) {
        return configDir != null ? Config.read(configDir.resolve(relative)) : ModelConfigs.resource("sd15", relative);
    }

    /** A standalone VAE folder (config.json + diffusion_pytorch_model.safetensors), e.g. TAESD as AutoencoderTiny. */
    public record Vae(ImageAutoencoder model, List<SafeTensors> files) implements AutoCloseable {
        @Override
        public void close() {
            files.forEach(SafeTensors::close);
        }
    }

    public static Vae openVae(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": VAE folder not found");
        List<SafeTensors> files = new ArrayList<>();
        try {
            Config config = Config.read(dir.resolve("config.json"));
            return new Vae(ImageAutoencoder.create(config, weights(dir, "diffusion_pytorch_model", files)), files);
        } catch (RuntimeException e) {
            files.forEach(SafeTensors::close);
            throw e;
        }
    }

    /** Reads every weight file into memory ahead of use (model open → first step without page-fault stalls). */
    public void prefetch() {
        files.forEach(SafeTensors::prefetch);
    }

    @Override
    public void close() {
        files.forEach(SafeTensors::close);
    }
}
