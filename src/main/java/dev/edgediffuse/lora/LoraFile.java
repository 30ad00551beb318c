package dev.edgediffuse.lora;

import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.tensor.Weight;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A LoRA safetensors file as the tools people use write it, read into low-rank modules that still name their target
 * layer as the file does:
 * <ul>
 * <li>kohya (sd-scripts, A1111, stable-diffusion.cpp): {@code lora_unet_<layer>.lora_down.weight}, {@code .lora_up.weight},
 *     optional {@code .alpha}; {@code lora_te_<layer>} for the text encoder; the layer is the diffusers/transformers
 *     module name with its dots turned into underscores (resolved against the model, see {@link LayerNames});
 *     conv layers (LoCon) have a down kernel of the base's size and a 1×1 up;</li>
 * <li>diffusers / PEFT: {@code unet.<layer>.lora_A.weight} (down) and {@code .lora_B.weight} (up), {@code text_encoder.…},
 *     also the older {@code <layer>.lora.down/up.weight} and attention-processor spellings; alpha as {@code <layer>.alpha}
 *     when present;</li>
 * <li>A1111's bundled embeddings, {@code bundle_emb.<word>.string_to_param.*} (or {@code .emb_params}): a word's
 *     token embedding, for words the base model does not know.</li>
 * </ul>
 * Any other key (LoHa, LoKr, DoRA, SDXL's second text encoder, ...) is a one-line error naming it: applying part of a
 * file would silently give another model than its author trained.
 */
public final class LoraFile implements AutoCloseable {
    /** Which model a module adapts. */
    public enum Target {
        UNET("unet"), TEXT_ENCODER("text_encoder");

        /** The checkpoint component kind. */
        public final String component;

        Target(String component) {
            this.component = component;
        }
    }

    /**
     * One adapted layer as the file names it: {@code layer} is a dotted module path (diffusers/PEFT files) or the
     * kohya underscore form ({@code underscored}); {@code alpha} is NaN when the file has none (scale = 1).
     */
    public record Module(Target target, String layer, boolean underscored, Weight down, Weight up, float alpha, String key) {
        public int rank() {
            return down.shape()[0];
        }
    }

    private final Path path;
    private final SafeTensors file;
    private final List<Module> modules;
    private final Map<String, float[]> embeddings;

    private LoraFile(Path path, SafeTensors file, List<Module> modules, Map<String, float[]> embeddings) {
        this.path = path;
        this.file = file;
        this.modules = List.copyOf(modules);
        this.embeddings = embeddings;
    }

    public static LoraFile read(Path path) {
        SafeTensors st = SafeTensors.open(path);
        try {
            return parse(path, st);
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    public List<Module> modules() {
        return modules;
    }

    /** Bundled word embeddings: word → its vector (one token's worth, the text encoder's width). */
    public Map<String, float[]> embeddings() {
        return embeddings;
    }

    public Map<String, String> metadata() {
        return file.metadata();
    }

    /** Parameters of the low-rank factors (embeddings included). */
    public long parameters() {
        long n = 0;
        for (Module m : modules) n += m.down.size() + m.up.size();
        for (float[] e : embeddings.values()) n += e.length;
        return n;
    }

    @Override
    public void close() {
        file.close();
    }

    /** down, up and alpha of one layer as they are collected from the keys. */
    private static final class Parts {
        Weight down, up;
        float alpha = Float.NaN;
        String firstKey;
    }

    private static LoraFile parse(Path path, SafeTensors st) {
        Map<String, Parts> byLayer = new LinkedHashMap<>();
        Map<String, float[]> embeddings = new LinkedHashMap<>();
        for (Map.Entry<String, Weight> e : st.tensors().entrySet()) {
            String key = e.getKey();
            Weight w = e.getValue();
            if (key.startsWith("bundle_emb.")) {
                embedding(path, key, w, embeddings);
                continue;
            }
            String[] layerAndPart = split(path, key);
            Parts p = byLayer.computeIfAbsent(layerAndPart[0], k -> new Parts());
            if (p.firstKey == null) p.firstKey = key;
            switch (layerAndPart[1]) {
                case "down" -> p.down = w;
                case "up" -> p.up = w;
                default -> {
                    if (w.size() != 1) throw new ModelFormatException(path + ": " + key + " must be one number (alpha), has shape " + w.shapeString());
                    p.alpha = w.get(0);
                    // NaN would read as "no alpha" (scale 1); an infinite one gives infinite weights
                    if (!Float.isFinite(p.alpha)) throw new ModelFormatException(path + ": " + key + " is " + p.alpha + "; alpha must be a finite number");
                }
            }
        }
        List<Module> modules = new ArrayList<>();
        for (Map.Entry<String, Parts> e : byLayer.entrySet()) {
            Parts p = e.getValue();
            if (p.down == null || p.up == null) {
                throw new ModelFormatException(path + ": " + p.firstKey + " has no matching " + (p.down == null ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)") + " tensor");
            }
            if (p.down.shape().length < 2 || p.up.shape().length < 2 || p.up.shape()[1] != p.down.shape()[0]) {
                throw new ModelFormatException(path + ": " + p.firstKey + ": down " + p.down.shapeString() + " and up " + p.up.shapeString()
                        + " are not a low-rank pair (up's second dimension must be down's rank)");
            }
            if (p.down.shape()[0] == 0) throw new ModelFormatException(path + ": " + p.firstKey + " has rank 0");
            String id = e.getKey();
            Target target = id.startsWith("unet:") ? Target.UNET : Target.TEXT_ENCODER;
            String layer = id.substring(id.indexOf(':') + 1);
            boolean underscored = layer.startsWith("_");
            modules.add(new Module(target, underscored ? layer.substring(1) : layer, underscored, p.down, p.up, p.alpha, p.firstKey));
        }
        if (modules.isEmpty() && embeddings.isEmpty()) throw new ModelFormatException(path + ": holds no LoRA tensors");
        return new LoraFile(path, st, modules, embeddings);
    }

    private static final String[][] PEFT_PARTS = {
            {".lora_A.weight", "down"}, {".lora_B.weight", "up"}, {".lora.down.weight", "down"}, {".lora.up.weight", "up"},
            {".lora_down.weight", "down"}, {".lora_up.weight", "up"}, {".alpha", "alpha"},
            {"_lora.down.weight", "down"}, {"_lora.up.weight", "up"}};

    /**
     * "{target}:{layer}" (a leading '_' on layer marks kohya's underscore form) and the part: down, up or alpha.
     * Unknown spellings are errors naming the key.
     */
    private static String[] split(Path path, String key) {
        for (String prefix : new String[]{"lora_unet_", "lora_te_"}) {
            if (!key.startsWith(prefix)) continue;
            int dot = key.indexOf('.');
            String part = dot < 0 ? "" : key.substring(dot);
            String kind = switch (part) {
                case ".lora_down.weight" -> "down";
                case ".lora_up.weight" -> "up";
                case ".alpha" -> "alpha";
                default -> throw unsupported(path, key);
            };
            String target = prefix.equals("lora_unet_") ? "unet" : "text";
            return new String[]{target + ":_" + key.substring(prefix.length(), dot), kind};
        }
        if (key.startsWith("lora_te1_") || key.startsWith("lora_te2_")) {
            throw new ModelFormatException(path + ": " + key + ": a second text encoder (SDXL) is not supported");
        }
        String target, rest;
        if (key.startsWith("unet.")) {
            target = "unet";
            rest = key.substring(5);
        } else if (key.startsWith("text_encoder.")) {
            target = "text";
            rest = key.substring(13);
        } else if (key.startsWith("base_model.model.")) { // a bare PEFT model: transformers names start with text_model.
            rest = key.substring(17);
            target = rest.startsWith("text_model.") ? "text" : "unet";
        } else {
            throw unsupported(path, key);
        }
        for (String[] p : PEFT_PARTS) {
            if (rest.endsWith(p[0])) {
                String layer = rest.substring(0, rest.length() - p[0].length()) + (p[0].startsWith("_lora") ? "_lora" : "");
                return new String[]{target + ":" + processorLayer(layer), p[1]};
            }
        }
        throw unsupported(path, key);
    }

    /** diffusers' early attention-processor keys: {@code attn1.processor.to_q_lora} adapts {@code attn1.to_q}. */
    private static String processorLayer(String layer) {
        int at = layer.indexOf(".processor.");
        if (at < 0 || !layer.endsWith("_lora")) return layer;
        String proj = layer.substring(at + ".processor.".length(), layer.length() - "_lora".length());
        return layer.substring(0, at) + "." + (proj.equals("to_out") ? "to_out.0" : proj);
    }

    private static ModelFormatException unsupported(Path path, String key) {
        String why = key.contains("hada_") ? "LoHa" : key.contains("lokr_") ? "LoKr" : key.contains("dora_scale") ? "DoRA"
                : key.contains("lora_mid") ? "LoCon with a CP-decomposed middle (lora_mid)" : null;
        return new ModelFormatException(path + ": " + key + (why != null ? ": " + why + " is not supported (LoRA and LoCon are)"
                : ": not a LoRA tensor (expected kohya lora_unet_/lora_te_ or diffusers/PEFT unet./text_encoder. names)"));
    }

    private static void embedding(Path path, String key, Weight w, Map<String, float[]> out) {
        String[] parts = key.split("\\.", 3);
        if (parts.length < 3 || !(parts[2].equals("string_to_param.*") || parts[2].equals("emb_params"))) {
            throw new ModelFormatException(path + ": " + key + ": bundled embeddings must be bundle_emb.<word>.string_to_param.* or .emb_params");
        }
        if (w.shape().length != 2 || w.shape()[0] != 1) {
            throw new ModelFormatException(path + ": " + key + " has shape " + w.shapeString() + "; only one-vector embeddings [1][hidden] are supported");
        }
        if (out.put(parts[1], w.toFloats()) != null) throw new ModelFormatException(path + ": embedding " + parts[1] + " is given twice");
    }
}
