package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.ModelFormatException;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The linear and convolution layers of one component, by module path (a weight of two or more dimensions less its
 * {@code .weight}; embedding tables are looked up, not multiplied, so they are not layers here). Resolves the kohya
 * spelling — the module path with every dot turned into an underscore, which AUTOMATIC1111 also builds from the
 * model's own module list — back to the path. Listing the model's layers needs no table of multi-word tokens
 * ({@code to_q}, {@code proj_in}, {@code transformer_blocks}, ...), and a name no layer has is an error at once.
 */
final class LayerNames {
    private final String component;
    private final Map<String, ModelTensor> tensors;
    private final Map<String, String> byUnderscored = new HashMap<>();
    /** Dotted names files use → the layer's path here: text encoders saved without transformers' "text_model." prefix. */
    private final Map<String, String> byDotted = new HashMap<>();
    private final Set<String> ambiguous = new HashSet<>();

    LayerNames(Component c) {
        this.component = c.kind();
        this.tensors = c.tensors();
        for (Map.Entry<String, ModelTensor> e : tensors.entrySet()) {
            String name = e.getKey();
            if (!name.endsWith(".weight") || e.getValue().shape().length < 2) continue;
            String path = name.substring(0, name.length() - ".weight".length());
            if (path.endsWith("embedding")) continue;
            String named = c.kind().equals(Component.TEXT_ENCODER) && !path.startsWith("text_model.") ? "text_model." + path : path;
            byDotted.put(named, path);
            String key = named.replace('.', '_');
            if (byUnderscored.put(key, path) != null) ambiguous.add(key);
        }
    }

    /** The module path a file's module adapts, or a one-line error naming its key. */
    String resolve(LoraFile.Module m, Path file) {
        String path;
        if (m.underscored()) {
            if (ambiguous.contains(m.layer())) {
                throw new ModelFormatException(file + ": " + m.key() + " matches more than one " + component + " layer");
            }
            path = byUnderscored.get(m.layer());
        } else {
            path = byDotted.get(m.layer());
        }
        if (path == null) throw new ModelFormatException(file + ": " + m.key() + " matches no " + component + " layer of this model");
        return path;
    }

    ModelTensor weight(String path) {
        return tensors.get(path + ".weight");
    }
}
