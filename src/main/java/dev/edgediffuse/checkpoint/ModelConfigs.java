package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The four component configs of a pipeline, from a diffusers-style folder or a built-in set ("tiny", "sd15"). */
public record ModelConfigs(Config unet, Config vae, Config text, Config scheduler) {
    public static final String[] BUILT_IN = {"tiny", "mini", "sd15"};

    /** A folder path, or the name of a built-in set. */
    public static ModelConfigs resolve(String nameOrDir) {
        for (String b : BUILT_IN) if (b.equals(nameOrDir)) return builtIn(b);
        Path dir = Path.of(nameOrDir);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--config must be a folder of component configs or one of tiny, mini, sd15; got " + nameOrDir);
        }
        return new ModelConfigs(Config.read(dir.resolve("unet/config.json")), Config.read(dir.resolve("vae/config.json")),
                Config.read(dir.resolve("text_encoder/config.json")), Config.read(dir.resolve("scheduler/scheduler_config.json")));
    }

    public static ModelConfigs builtIn(String name) {
        return new ModelConfigs(resource(name, "unet/config.json"), resource(name, "vae/config.json"),
                resource(name, "text_encoder/config.json"), resource(name, "scheduler/scheduler_config.json"));
    }

    static Config resource(String set, String relative) {
        String res = "/dev/edgediffuse/configs/" + set + "/" + relative;
        try (InputStream in = ModelConfigs.class.getResourceAsStream(res)) {
            if (in == null) throw new IllegalStateException("missing resource " + res);
            return Config.parse("built-in " + set + " " + relative, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes the configs as a diffusers folder skeleton (model_index.json and each component's config). */
    public void writeTo(Path dir) throws IOException {
        write(dir.resolve("unet/config.json"), unet);
        write(dir.resolve("vae/config.json"), vae);
        write(dir.resolve("text_encoder/config.json"), text);
        write(dir.resolve("scheduler/scheduler_config.json"), scheduler);
        String index = "{\"_class_name\": \"StableDiffusionPipeline\", \"scheduler\": [\"diffusers\", \"PNDMScheduler\"], "
                + "\"text_encoder\": [\"transformers\", \"CLIPTextModel\"], \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"], "
                + "\"unet\": [\"diffusers\", \"UNet2DConditionModel\"], \"vae\": [\"diffusers\", \"" + vae.getString("_class_name", "AutoencoderKL") + "\"]}";
        dev.edgediffuse.format.AtomicFiles.write(dir.resolve("model_index.json"), index.getBytes(StandardCharsets.UTF_8));
    }

    private static void write(Path p, Config c) throws IOException {
        dev.edgediffuse.format.AtomicFiles.write(p, dev.edgediffuse.format.Json.write(c.values()).getBytes(StandardCharsets.UTF_8));
    }
}
