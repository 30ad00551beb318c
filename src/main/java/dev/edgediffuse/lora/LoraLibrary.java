package dev.edgediffuse.lora;

import dev.edgediffuse.format.ModelFormatException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LoRAs a model runs with: those given for every request ({@code --lora}), those a prompt may name
 * ({@code <lora:name:W>} → {@code --lora-dir/name.safetensors}), and how they are applied ({@link LoraMode}). Files are
 * read once and kept open (mapped) until the library closes.
 */
public final class LoraLibrary implements AutoCloseable {
    /** A prompt's LoRA set: the text to tokenize (tags cut out), the LoRAs in order, and a key naming the set. */
    public record Selection(String prompt, List<LoraSpec> loras, String key) {
        public boolean isEmpty() {
            return loras.isEmpty();
        }
    }

    public static final LoraLibrary NONE = new LoraLibrary(null, List.of(), LoraMode.AUTO);

    /** What a command line or server configuration asks for: --lora files, --lora-dir, --lora-mode. */
    public record Settings(List<LoraSpec> loras, Path dir, LoraMode mode) {
        public static final Settings NONE = new Settings(List.of(), null, LoraMode.AUTO);

        public Settings {
            loras = List.copyOf(loras);
        }

        public LoraLibrary open() {
            return loras.isEmpty() && dir == null ? LoraLibrary.NONE : new LoraLibrary(dir, loras, mode);
        }
    }

    private final Path dir;
    private final List<LoraSpec> defaults;
    private final LoraMode mode;
    private final Map<Path, LoraFile> files = new LinkedHashMap<>();

    public LoraLibrary(Path dir, List<LoraSpec> defaults, LoraMode mode) {
        if (dir != null && !Files.isDirectory(dir)) throw new ModelFormatException(dir + ": --lora-dir is not a folder");
        for (LoraSpec s : defaults) {
            if (!Files.isRegularFile(s.file())) throw new ModelFormatException(s.file() + ": --lora file not found");
        }
        this.dir = dir;
        this.defaults = List.copyOf(defaults);
        this.mode = mode;
    }

    public LoraMode mode() {
        return mode;
    }

    /** The LoRAs every request gets (--lora). */
    public Selection defaults() {
        return selection(null, defaults);
    }

    /** The set a prompt asks for: the defaults, then its tags in order. */
    public Selection select(String prompt) {
        PromptLoras parsed = PromptLoras.parse(prompt);
        if (parsed.tags().isEmpty()) return selection(prompt, defaults);
        List<LoraSpec> set = new ArrayList<>(defaults);
        for (PromptLoras.Tag t : parsed.tags()) set.add(new LoraSpec(named(t.name()), t.text(), t.unet()));
        return selection(parsed.prompt(), set);
    }

    private static Selection selection(String prompt, List<LoraSpec> set) {
        StringBuilder key = new StringBuilder();
        for (LoraSpec s : set) key.append(s.key()).append('|');
        return new Selection(prompt, List.copyOf(set), key.toString());
    }

    /** {@code --lora-dir/name.safetensors}; a name is a file name, never a path (requests come from the network). */
    private Path named(String raw) {
        String name = PromptLoras.shown(raw);
        if (!name.equals(raw)) throw new IllegalArgumentException("prompt: <lora:" + name + ">: a LoRA name is a file name in --lora-dir without control characters");
        if (dir == null) throw new IllegalArgumentException("prompt names <lora:" + name + "> but no --lora-dir is set");
        if (name.contains("/") || name.contains("\\") || name.startsWith(".")) {
            throw new IllegalArgumentException("prompt: <lora:" + name + ">: a LoRA name is a file name in --lora-dir, not a path");
        }
        Path p = dir.resolve(name.endsWith(".safetensors") ? name : name + ".safetensors");
        if (!Files.isRegularFile(p)) throw new IllegalArgumentException("prompt: <lora:" + name + ">: no " + p.getFileName() + " in " + dir);
        return p;
    }

    /** The set's files, read once each, with their multipliers. */
    public synchronized List<Adapters.Use> uses(Selection s) {
        List<Adapters.Use> out = new ArrayList<>();
        for (LoraSpec spec : s.loras()) {
            Path key = spec.file().toAbsolutePath().normalize();
            LoraFile f = files.get(key);
            if (f == null) {
                f = LoraFile.read(spec.file());
                files.put(key, f);
            }
            out.add(new Adapters.Use(f, spec.text(), spec.unet()));
        }
        return out;
    }

    @Override
    public synchronized void close() {
        for (LoraFile f : files.values()) f.close();
        files.clear();
    }
}
