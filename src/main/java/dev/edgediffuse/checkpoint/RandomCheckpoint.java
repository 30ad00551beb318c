package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetOriginalNames;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.VaeOriginalNames;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes random-weight checkpoints of the real architectures in the real layouts (diffusers folder, original single
 * file). The tensor list comes from building each model on recording {@link Weights}, so it always matches the code.
 * Values follow PyTorch's default init scale (uniform ±1/√fan_in), norm scales 1, so activations stay O(1).
 */
public final class RandomCheckpoint {
    private RandomCheckpoint() {}

    public static Map<String, int[]> unetTensors(Config c) {
        Map<String, int[]> names = new LinkedHashMap<>();
        new UNet2DConditionModel(c, Weights.recording("unet", names));
        return names;
    }

    public static Map<String, int[]> vaeTensors(Config c) {
        Map<String, int[]> names = new LinkedHashMap<>();
        ImageAutoencoder.create(c, Weights.recording("vae", names));
        return names;
    }

    public static Map<String, int[]> textTensors(Config c) {
        Map<String, int[]> names = new LinkedHashMap<>();
        new ClipTextModel(c, Weights.recording("text_encoder", names));
        return names;
    }

    /** A diffusers folder: model_index.json, unet/, vae/, text_encoder/, scheduler/ (the tokenizer is built in). */
    public static void writeFolder(Path dir, ModelConfigs configs, DType dtype, long seed) throws IOException {
        configs.writeTo(dir);
        write(dir.resolve("unet/diffusion_pytorch_model.safetensors"), unetTensors(configs.unet()), Map.of(), "", dtype, seed);
        write(dir.resolve("vae/diffusion_pytorch_model.safetensors"), vaeTensors(configs.vae()), Map.of(), "", dtype, seed + 1);
        write(dir.resolve("text_encoder/model.safetensors"), textTensors(configs.text()), Map.of(), "", dtype, seed + 2);
    }

    /** One original-layout file (model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*). */
    public static void writeSingleFile(Path file, ModelConfigs configs, DType dtype, long seed) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        Map<String, int[]> unet = unetTensors(configs.unet());
        add(w, unet, CheckpointWriter.originalUnetNames(configs.unet(), unet.keySet()), UNetOriginalNames.PREFIX, dtype, seed);
        add(w, vaeTensors(configs.vae()), CheckpointWriter.invert(VaeOriginalNames.originalToDiffusers(configs.vae())),
                Checkpoint.VAE_PREFIX, dtype, seed + 1);
        add(w, textTensors(configs.text()), Map.of(), Checkpoint.TEXT_PREFIX, dtype, seed + 2);
        w.write(file);
    }

    private static void write(Path file, Map<String, int[]> tensors, Map<String, String> rename, String prefix,
                              DType dtype, long seed) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        add(w, tensors, rename, prefix, dtype, seed);
        w.write(file);
    }

    private static void add(SafeTensorsWriter w, Map<String, int[]> tensors, Map<String, String> rename, String prefix,
                            DType dtype, long seed) {
        for (Map.Entry<String, int[]> e : tensors.entrySet()) {
            String name = e.getKey();
            int[] shape = e.getValue();
            w.add(prefix + rename.getOrDefault(name, name), dtype, shape, filler(name, shape, seed));
        }
    }

    private static SafeTensorsWriter.Filler filler(String name, int[] shape, long seed) {
        if (shape.length == 1 && name.endsWith("weight")) return (off, dst, n) -> java.util.Arrays.fill(dst, 0, n, 1f);
        long fanIn = 1;
        for (int k = 1; k < shape.length; k++) fanIn *= shape[k];
        // biases: small; embeddings (2-D, looked up not multiplied): unit-ish scale like CLIP's init
        float bound = shape.length == 1 ? 0.05f : name.contains("embedding") ? 0.5f : (float) (1.0 / Math.sqrt(fanIn));
        long base = seed * 0x9E3779B97F4A7C15L ^ name.hashCode();
        return (off, dst, n) -> {
            for (int k = 0; k < n; k++) dst[k] = bound * (2f * unit(base, off + k) - 1f);
        };
    }

    /** A stateless uniform [0,1) hash of (stream, index), so chunks can be produced in any order. */
    private static float unit(long stream, long index) {
        long z = stream + index * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 40) / (float) (1L << 24);
    }
}
