package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-tensor activation ranges for 8-bit activations: each quantized UNet layer's input range over the calibration
 * (min and max, widened to include 0 so that zero — a convolution's padding — is exact), written by {@code convert}
 * as {@code unet/activation_ranges.json} and read at run time by {@link Int8Activations}.
 */
public final class ActivationRanges {
    public static final String FILE = "activation_ranges.json";

    public record Range(float min, float max) {}

    private ActivationRanges() {}

    /** The calibrated input ranges of the layers whose weights {@code unet} stores quantized. */
    public static Map<String, Range> of(Calibration c, Component unet) {
        Map<String, Range> out = new LinkedHashMap<>();
        for (Calibration.Layer l : c.layers().values()) {
            ModelTensor t = unet.tensors().get(l.path + ".weight");
            if (t != null && t.dtype().quantized()) out.put(l.path, new Range(Math.min(l.min, 0f), Math.max(l.max, 0f)));
        }
        return out;
    }

    public static byte[] json(Map<String, Range> ranges) {
        Map<String, Object> m = new LinkedHashMap<>();
        ranges.forEach((k, r) -> m.put(k, List.of((double) r.min, (double) r.max)));
        return (Json.write(m) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The ranges a converted model folder carries ({@code unet/activation_ranges.json}); a one-line error without them. */
    public static Map<String, Range> read(Path model) {
        Path file = model.resolve("unet").resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(model + ": no unet/" + FILE + " (8-bit activations need ranges: convert the model with --calibration)");
        }
        Map<String, Object> m;
        try {
            m = Json.parseObject(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new ModelFormatException(file + ": " + e.getMessage());
        }
        Map<String, Range> out = new LinkedHashMap<>();
        m.forEach((k, v) -> {
            if (!(v instanceof List<?> l) || l.size() != 2 || !(l.get(0) instanceof Number lo) || !(l.get(1) instanceof Number hi)
                    || !(lo.floatValue() <= 0 && hi.floatValue() >= 0)) {
                throw new ModelFormatException(file + ": range of " + k + " must be [min <= 0, max >= 0]");
            }
            out.put(k, new Range(lo.floatValue(), hi.floatValue()));
        });
        return out;
    }
}
