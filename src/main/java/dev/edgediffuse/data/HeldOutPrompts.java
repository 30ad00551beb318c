package dev.edgediffuse.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The held-out prompt set: everyday wordings of the ten classes ("a pair of blue jeans", "a cosy sweater for winter")
 * that no training caption uses verbatim, shipped in the jar. Prompt accuracy on them says how well a model follows
 * prompts as people write them, beside the accuracy on the caption templates it was trained with.
 */
public final class HeldOutPrompts {
    private static final String RESOURCE = "/dev/edgediffuse/data/held-out-prompts.tsv";

    public record Prompt(int label, String text) {}

    private static volatile List<Prompt> all;

    private HeldOutPrompts() {}

    public static List<Prompt> all() {
        List<Prompt> a = all;
        if (a == null) all = a = read();
        return a;
    }

    /** A prompt file of another domain: lines {@code label<TAB>prompt} ('#' comments), labels 0..classes-1. */
    public static List<Prompt> read(java.nio.file.Path file, int classes) {
        List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new dev.edgediffuse.format.ModelFormatException(file + ": cannot read (" + e.getMessage() + ")");
        }
        List<Prompt> out = new ArrayList<>();
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n);
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] parts = line.split("\t", 2);
            int label;
            try {
                label = Integer.parseInt(parts[0].trim());
            } catch (NumberFormatException e) {
                label = -1;
            }
            if (parts.length < 2 || parts[1].isBlank() || label < 0 || label >= classes) {
                throw new dev.edgediffuse.format.ModelFormatException(file + ":" + (n + 1) + ": expected label<TAB>prompt with a label in 0.."
                        + (classes - 1));
            }
            out.add(new Prompt(label, parts[1].trim()));
        }
        if (out.isEmpty()) throw new dev.edgediffuse.format.ModelFormatException(file + ": no prompts");
        return List.copyOf(out);
    }

    private static List<Prompt> read() {
        try (InputStream in = HeldOutPrompts.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IllegalStateException("missing resource " + RESOURCE + " (a broken build?)");
            List<Prompt> out = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] parts = line.split("\t", 2);
                out.add(new Prompt(Integer.parseInt(parts[0].trim()), parts[1].trim()));
            }
            return List.copyOf(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
