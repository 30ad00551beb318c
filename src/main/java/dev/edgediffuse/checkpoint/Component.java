package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.Weight;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One component of a model as data: its kind ({@code unet}, {@code vae}, {@code text_encoder}: also its folder in
 * the diffusers layout), its config, its tensors under diffusers/transformers names in file order, and where they
 * came from (a file, or what made them), which errors name.
 */
public record Component(String kind, Config config, Map<String, ModelTensor> tensors, String source) {
    public static final String UNET = "unet", VAE = "vae", TEXT_ENCODER = "text_encoder";

    public Component {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    /** A component over tensors that are already there (a mapped file's, a trainer's heap arrays). */
    public static Component of(String kind, Config config, Map<String, Weight> weights, String source) {
        Map<String, ModelTensor> t = new LinkedHashMap<>();
        weights.forEach((name, w) -> t.put(name, ModelTensor.of(w)));
        return new Component(kind, config, t, source);
    }

    /** The tensors' values as the lookups a model is built from. */
    public Weights weights() {
        Map<String, Weight> all = new LinkedHashMap<>();
        tensors.forEach((name, t) -> all.put(name, t.get()));
        return new Weights(source, all);
    }

    public Component withConfig(Config c) {
        return new Component(kind, c, tensors, source);
    }

    /** New tensors, made by {@code how} (a pass's name, for errors). */
    public Component withTensors(Map<String, ModelTensor> t, String how) {
        return new Component(kind, config, t, how);
    }

    /** The file its weights take in the diffusers layout. */
    public String weightsFile() {
        return kind.equals(TEXT_ENCODER) ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
    }
}
