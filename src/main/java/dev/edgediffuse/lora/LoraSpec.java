package dev.edgediffuse.lora;

import java.nio.file.Path;

/**
 * One LoRA to apply and how strongly: {@code --lora FILE[:WEIGHT]} on the command line, {@code <lora:name:WEIGHT>} in a
 * prompt (text-encoder and UNet multipliers apart as {@code <lora:name:TE:UNET>} or {@code te=}/{@code unet=}).
 */
public record LoraSpec(Path file, float text, float unet) {
    /** FILE or FILE:WEIGHT (the weight after the last colon, when it parses as a number). */
    public static LoraSpec parse(String arg) {
        int colon = arg.lastIndexOf(':');
        if (colon > 0) {
            try {
                float w = Float.parseFloat(arg.substring(colon + 1));
                if (!Float.isFinite(w)) throw new IllegalArgumentException("--lora weight must be a finite number, got '" + arg + "'");
                return new LoraSpec(Path.of(arg.substring(0, colon)), w, w);
            } catch (NumberFormatException notAWeight) {
                // a path with a colon in it (C:\...)
            }
        }
        return new LoraSpec(Path.of(arg), 1f, 1f);
    }

    /** The key part that identifies this use in a LoRA set. */
    String key() {
        return file.toAbsolutePath().normalize() + ":" + text + ":" + unet;
    }
}
