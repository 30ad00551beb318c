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
