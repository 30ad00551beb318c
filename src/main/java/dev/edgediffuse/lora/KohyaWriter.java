package dev.edgediffuse.lora;

import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes a LoRA as kohya's sd-scripts do, the layout AUTOMATIC1111, ComfyUI and stable-diffusion.cpp load: per layer
 * {@code <key>.lora_down.weight}, {@code <key>.lora_up.weight} and {@code <key>.alpha}; new words as A1111's bundled
 * embeddings ({@code bundle_emb.<word>.string_to_param.*}); the training settings as {@code ss_*} metadata. Written
 * atomically (a temporary file moved into place).
 */
public final class KohyaWriter {
    private KohyaWriter() {}

    /** One layer's factors under its kohya key. */
    public record Module(String key, float[] down, int[] downShape, float[] up, int[] upShape, float alpha) {}

    public static void write(Path file, List<Module> modules, Map<String, float[]> words, Map<String, String> metadata, DType dtype)
            throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (Module m : modules) {
            w.add(m.key() + ".lora_down.weight", dtype, m.down(), m.downShape());
            w.add(m.key() + ".lora_up.weight", dtype, m.up(), m.upShape());
            w.add(m.key() + ".alpha", dtype, new float[]{m.alpha()});
        }
        words.forEach((word, v) -> w.add("bundle_emb." + word + ".string_to_param.*", dtype, v, 1, v.length));
        metadata.forEach(w::metadata);
        w.write(file);
    }
}
