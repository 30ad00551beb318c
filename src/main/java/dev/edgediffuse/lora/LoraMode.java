package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.nn.LayerPolicy;

import java.util.Locale;

/**
 * How a bound LoRA set reaches the model: {@code auto} merges into float weights and branches at run time on
 * quantized ones; {@code merge} merges only (a quantized layer is an error); {@code runtime} branches everywhere
 * (the base weights stay as they are, shared by every LoRA set a server runs).
 */
public enum LoraMode {
    AUTO, MERGE, RUNTIME;

    public static LoraMode parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--lora-mode must be auto, merge or runtime, got '" + s + "'");
        }
    }

    /** A model with a LoRA set applied: its tensors (merged layers, word embeddings) and the layer policies to build it with. */
    public record Applied(Checkpoint checkpoint, LayerPolicy unet, LayerPolicy text, LoraPolicy unetBranches, LoraPolicy textBranches) {
        /** After building the models: every run-time branch found its layer. */
        public void checkAllBuilt() {
            if (unetBranches != null) unetBranches.checkAllBuilt(Component.UNET);
            if (textBranches != null) textBranches.checkAllBuilt(Component.TEXT_ENCODER);
        }
    }

    /** Applies {@code adapters} to {@code model} built with the {@code unet}/{@code text} policies. */
    public Applied apply(Checkpoint model, Adapters adapters, LayerPolicy unet, LayerPolicy text) {
        Checkpoint out = WordEmbeddings.apply(model, adapters.words());
        Adapters merged = switch (this) {
            case RUNTIME -> Adapters.NONE;
            case MERGE -> adapters;
            case AUTO -> adapters.only((component, path) -> !weightOf(model, component, path).dtype().quantized());
        };
        Adapters branched = adapters.only((component, path) -> merged.factors(component).get(path) == null);
        out = LoraMerge.apply(out, merged);
        LoraPolicy u = branched.factors(Component.UNET).isEmpty() ? null : new LoraPolicy(unet, branched.factors(Component.UNET));
        LoraPolicy t = branched.factors(Component.TEXT_ENCODER).isEmpty() ? null : new LoraPolicy(text, branched.factors(Component.TEXT_ENCODER));
        return new Applied(out, u != null ? u : unet, t != null ? t : text, u, t);
    }

    private static dev.edgediffuse.checkpoint.ModelTensor weightOf(Checkpoint model, String component, String path) {
        Component c = component.equals(Component.UNET) ? model.unet : model.text;
        return c.tensors().get(path + ".weight");
    }
}
