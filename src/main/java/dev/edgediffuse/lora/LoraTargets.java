package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Which layers a LoRA being trained adapts, as kohya's presets name them: {@code transformer} (the default, kohya's
 * LoRA: every linear of the UNet's transformer blocks — attention, proj_in/out, feed-forward), {@code attention} (the
 * attention projections only), {@code all} (also the ResNet, down- and upsampling convolutions: LoCon), or
 * comma-separated globs over layer paths ({@code *attn2*,*proj_in}). The text encoder's are its attention and MLP
 * linears.
 */
public final class LoraTargets {
    private LoraTargets() {}

    public static final String DEFAULT = "transformer";

    /** The UNet layer paths {@code spec} selects, in the model's order; none is an error naming the spec. */
    public static List<String> unet(Component unet, String spec) {
        List<Pattern> globs = new ArrayList<>();
        String preset = switch (spec) {
            case "transformer", "attention", "all" -> spec;
            default -> {
                for (String g : spec.split(",")) if (!g.isBlank()) globs.add(glob(g.trim()));
                yield null;
            }
        };
        List<String> out = new ArrayList<>();
        for (String path : layers(unet)) {
            boolean take = preset == null ? globs.stream().anyMatch(g -> g.matcher(path).matches()) : switch (preset) {
                case "attention" -> path.contains(".attn1.") || path.contains(".attn2.");
                case "transformer" -> path.contains(".attentions.");
                default -> path.contains(".attentions.") || path.contains(".resnets.") || path.contains("samplers.");
            };
            if (take) out.add(path);
        }
        if (out.isEmpty()) throw new IllegalArgumentException("--target " + spec + " selects no UNet layer");
        return out;
    }

    /** The text encoder's attention and MLP linears. */
    public static List<String> text(Component text) {
        List<String> out = new ArrayList<>();
        for (String path : layers(text)) if (path.contains(".self_attn.") || path.contains(".mlp.")) out.add(path);
        return out;
    }

    /** Layer paths: weights of two or more dimensions that are not embedding tables, in the component's order. */
    static List<String> layers(Component c) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, ModelTensor> e : c.tensors().entrySet()) {
            String n = e.getKey();
            if (!n.endsWith(".weight") || e.getValue().shape().length < 2) continue;
            String path = n.substring(0, n.length() - ".weight".length());
            if (!path.endsWith("embedding")) out.add(path);
        }
        return out;
    }

    private static Pattern glob(String g) {
        StringBuilder re = new StringBuilder();
        for (char ch : g.toCharArray()) {
            switch (ch) {
                case '*' -> re.append(".*");
                case '?' -> re.append('.');
                default -> re.append(Pattern.quote(String.valueOf(ch)));
            }
        }
        return Pattern.compile(re.toString());
    }

    /**
     * kohya's key of a layer: lora_unet_ / lora_te_ and the path with its dots as underscores; a text encoder's path
     * under transformers' "text_model." (as kohya writes it, whether or not this checkpoint stores the prefix).
     */
    public static String kohyaKey(String component, String path) {
        if (component.equals(Component.UNET)) return "lora_unet_" + path.replace('.', '_');
        return "lora_te_" + (path.startsWith("text_model.") ? path : "text_model." + path).replace('.', '_');
    }
}
