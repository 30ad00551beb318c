package dev.edgediffuse.lora;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's extra-network syntax for LoRAs in a prompt: {@code <lora:name>}, {@code <lora:name:W>} (text encoder
 * and UNet both W), {@code <lora:name:TE:UNET>}, or named {@code te=}/{@code unet=}. The tags are cut out of the text
 * the tokenizer sees (as A1111 does; the request keeps them, so the PNG's parameters do too).
 */
public record PromptLoras(String prompt, List<Tag> tags) {
    /** A tag: the LoRA's name (its file in --lora-dir, without .safetensors) and multipliers. */
    public record Tag(String name, float text, float unet) {}

    private static final Pattern TAG = Pattern.compile("<lora:([^>]*)>");

    public static PromptLoras parse(String prompt) {
        if (prompt == null || !prompt.contains("<lora:")) return new PromptLoras(prompt, List.of());
        List<Tag> tags = new ArrayList<>();
        Matcher m = TAG.matcher(prompt);
        while (m.find()) tags.add(tag(m.group(1), shown(m.group())));
        String rest = TAG.matcher(prompt).replaceAll(" ").replaceAll("\\s+", " ").trim();
        return new PromptLoras(rest, List.copyOf(tags));
    }

    private static Tag tag(String body, String whole) {
        String[] items = body.split(":", -1);
        String name = items[0].trim();
        if (name.isEmpty()) throw new IllegalArgumentException("prompt: " + whole + " names no LoRA");
        Float te = null, unet = null;
        int positional = 0;
        for (int i = 1; i < items.length; i++) {
            String item = items[i].trim();
            int eq = item.indexOf('=');
            if (eq > 0) {
                String key = item.substring(0, eq).trim();
                float v = number(item.substring(eq + 1), whole);
                switch (key) {
                    case "te" -> te = v;
                    case "unet" -> unet = v;
                    default -> throw new IllegalArgumentException("prompt: " + whole + ": unknown setting '" + shown(key) + "' (te= or unet=)");
                }
            } else if (positional == 0) {
                te = number(item, whole);
                positional++;
            } else if (positional == 1) {
                unet = number(item, whole);
                positional++;
            } else {
                throw new IllegalArgumentException("prompt: " + whole + " has too many values (<lora:name:W> or <lora:name:TE:UNET>)");
            }
        }
        float t = te == null ? 1f : te, u = unet == null ? t : unet;
        return new Tag(name, t, u);
    }

    /** Text from a prompt as an error shows it: one line, whatever the prompt holds (line breaks as \\n). */
    static String shown(String text) {
        return text.replace("\r", "\\r").replace("\n", "\\n").replaceAll("[\\p{Cntrl}&&[^\\t]]", "?");
    }

    private static float number(String s, String whole) {
        try {
            float v = Float.parseFloat(s.trim());
            if (Float.isFinite(v)) return v;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("prompt: " + whole + ": '" + shown(s.trim()) + "' is not a number");
    }
}
