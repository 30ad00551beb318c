package dev.edgediffuse.model.unet;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.Weights;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The inner widths a structured pruning pass left in a UNet, from the config's {@value #KEY} object (module path →
 * width): a ResNet's path ({@code down_blocks.0.resnets.0}) → its inner channels (conv1's outputs, norm2, conv2's
 * inputs); an attention's path ({@code ….transformer_blocks.0.attn1}) → the heads kept, each of the unpruned head
 * width (0: the attention removed); a feed-forward's path ({@code ….transformer_blocks.0.ff}) → its GEGLU inner width. Block outputs keep their
 * channels, so skip connections and every other layer are unchanged. diffusers has no such key (nor does Hybrid SD,
 * which pickles whole modules); a model without it is an ordinary UNet.
 */
final class PrunedWidths {
    static final String KEY = "pruned_widths";
    private final String source;
    private final Map<String, Integer> widths;
    private final Set<String> used = new TreeSet<>();

    private PrunedWidths(String source, Map<String, Integer> widths) {
        this.source = source;
        this.widths = widths;
    }

    /** Every module at full width. */
    static PrunedWidths none() {
        return new PrunedWidths("", Map.of());
    }

    static PrunedWidths of(Config config) {
        Map<String, Integer> w = new LinkedHashMap<>();
        if (config.has(KEY)) {
            if (!(config.values().get(KEY) instanceof Map<?, ?> m)) {
                throw new ModelFormatException(config.source() + ": \"" + KEY + "\" must be an object of module path -> width");
            }
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!(e.getValue() instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.intValue() < 1) {
                    throw new ModelFormatException(config.source() + ": " + KEY + " entry \"" + e.getKey() + "\" must be a positive integer, got "
                            + e.getValue());
                }
                w.put(e.getKey().toString(), n.intValue());
            }
        }
        return new PrunedWidths(config.source(), w);
    }

    /** A ResNet's inner channels ({@code full} unpruned), which the norm's groups must divide. */
    int resnetInner(Weights resnet, int full, int groups) {
        int c = width(resnet, full, "inner channels");
        if (c % groups != 0) {
            throw new ModelFormatException(source + ": " + KEY + " gives " + module(resnet) + " " + c + " inner channels, not a multiple of "
                    + groups + " (norm_num_groups)");
        }
        return c;
    }

    /** The heads an attention keeps ({@code full} unpruned). */
    int heads(Weights attention, int full) {
        return width(attention, full, "heads");
    }

    /** A feed-forward's GEGLU inner width ({@code full} unpruned). */
    int ffInner(Weights ff, int full) {
        return width(ff, full, "feed-forward width");
    }

    /** An upsampler's output channels ({@code full} unpruned), which the next stage's norm groups must divide. */
    int upsamplerOut(Weights upsampler, int full, int groups) {
        int c = width(upsampler, full, "output channels");
        if (c % groups != 0) {
            throw new ModelFormatException(source + ": " + KEY + " gives " + module(upsampler) + " " + c + " output channels, not a multiple of "
                    + groups + " (norm_num_groups)");
        }
        return c;
    }

    private int width(Weights scope, int full, String what) {
        String m = module(scope);
        Integer w = widths.get(m);
        if (w == null) return full;
        used.add(m);
        if (w > full) throw new ModelFormatException(source + ": " + KEY + " gives " + m + " " + w + " " + what + ", more than its " + full);
        return w;
    }

    private static String module(Weights scope) {
        String p = scope.path("");
        return p.endsWith(".") ? p.substring(0, p.length() - 1) : p;
    }

    /** Every entry must have named a module of this UNet: a misspelt path would otherwise be ignored. */
    void checkAllUsed() {
        for (String m : widths.keySet()) {
            if (!used.contains(m)) {
                throw new ModelFormatException(source + ": " + KEY + " names " + m + ", which is not a ResNet, attention or feed-forward of this UNet");
            }
        }
    }
}
