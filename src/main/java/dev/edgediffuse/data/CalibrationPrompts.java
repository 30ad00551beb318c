package dev.edgediffuse.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt sets that quantization is calibrated on: {@code mini} — for the Fashion-MNIST models, the evaluation's ten
 * templates for every class interleaved with the held-out everyday prompts (what the model is asked in use);
 * {@code general} — for general models, 64 everyday prompts across subjects and styles (written for this project,
 * shipped in the jar); or a text file
 * of one prompt per line (text after a tab is ignored; # starts a comment).
 */
public final class CalibrationPrompts {
    public static final String GENERAL_RESOURCE = "/dev/edgediffuse/data/general-prompts.tsv";

    private CalibrationPrompts() {}

    /** The set {@code name} (mini, general) or the prompts of file {@code name}; a one-line error otherwise. */
    public static List<String> named(String name) {
        return switch (name) {
            case "mini" -> mini();
            case "general" -> general();
            default -> {
                Path p = Path.of(name);
                if (!Files.isRegularFile(p)) throw new IllegalArgumentException("--prompts must be mini, general or a prompt file, got '" + name + "'");
                try {
                    yield lines(Files.readString(p), p.toString());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }

    /** Template prompts (class by class, template by template) interleaved with the held-out prompts. */
    public static List<String> mini() {
        List<String> templates = new ArrayList<>();
        for (int t = 0; t < 10; t++) for (int c = 0; c < FashionMnist.CLASSES.length; c++) templates.add(Captions.evaluation(c, t));
        List<HeldOutPrompts.Prompt> held = HeldOutPrompts.all();
        List<String> out = new ArrayList<>();
        for (int i = 0; i < Math.max(templates.size(), held.size()); i++) {
            if (i < templates.size()) out.add(templates.get(i));
            if (i < held.size()) out.add(held.get(i).text());
        }
        return out;
    }

    public static List<String> general() {
        try (InputStream in = CalibrationPrompts.class.getResourceAsStream(GENERAL_RESOURCE)) {
            if (in == null) throw new IllegalStateException("missing resource " + GENERAL_RESOURCE + " (a broken build?)");
            return lines(new String(in.readAllBytes(), StandardCharsets.UTF_8), GENERAL_RESOURCE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code n} of {@code prompts} spread evenly over it (the first included), so a few still cover every kind. */
    public static List<String> spread(List<String> prompts, int n) {
        if (n < 1 || n > prompts.size()) throw new IllegalArgumentException("cannot take " + n + " of " + prompts.size() + " prompts");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(prompts.get((int) ((long) i * prompts.size() / n)));
        return out;
    }

    private static List<String> lines(String text, String what) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) continue;
            String p = line.split("\t", 2)[0].trim();
            if (!p.isEmpty()) out.add(p);
        }
        if (out.isEmpty()) throw new IllegalArgumentException(what + ": no prompts");
        return List.copyOf(out);
    }
}
