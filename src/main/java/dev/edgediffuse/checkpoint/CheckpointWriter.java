package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.QuantizedTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.model.unet.UNetOriginalNames;
import dev.edgediffuse.model.vae.VaeOriginalNames;
import dev.edgediffuse.tensor.Residency;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Writes a {@link Checkpoint} as a diffusers folder or as one original-layout .safetensors file. Tensors are read
 * one at a time as the file body reaches them (a pass's output is computed then), so memory stays near one tensor.
 * The result appears only once complete: a folder is built under a temporary name and renamed, a file goes through
 * a temporary sibling. A folder the checkpoint was read from lends its other files (tokenizer, README, ...).
 */
public final class CheckpointWriter {
    /** Weight files this runtime does not read: left out of a written folder. */
    private static final List<String> OTHER_WEIGHTS = List.of(".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".gguf");

    /** Files a quantization pass writes about itself: not carried over from a source folder into another conversion. */
    private static final Set<String> PASS_FILES = Set.of("quant_plan.json", "unet/activation_ranges.json");

    private final PrintStream progress;
    /** What was left out of the source folder, and why (for the caller's summary). */
    public final List<String> notes = new ArrayList<>();

    /** {@code progress} (nullable) gets a line per weight file and a running count during long ones. */
    public CheckpointWriter(PrintStream progress) {
        this.progress = progress;
    }

    /** Writes {@code cp} as a diffusers folder at {@code out}, which must not exist yet (or be an empty folder). */
    public void writeFolder(Checkpoint cp, Path out) throws IOException {
        writeFolder(cp, out, Map.of());
    }

    /**
     * As {@link #writeFolder(Checkpoint, Path)}, with {@code files} (relative path → bytes: a pass's plan, activation
     * ranges) written into the folder too, inside the same atomic step.
     */
    public void writeFolder(Checkpoint cp, Path out, Map<String, byte[]> files) throws IOException {
        AtomicFiles.writeFolder(out, tmp -> {
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                Path target = tmp.resolve(f.getKey());
                Files.createDirectories(target.getParent());
                Files.write(target, f.getValue());
            }
            if (cp.origin != null && Files.isDirectory(cp.origin)) copyOtherFiles(cp.origin, tmp);
            if (cp.tokenizerDir != null && !Files.exists(tmp.resolve("tokenizer"))) copyTree(cp.tokenizerDir, tmp.resolve("tokenizer"));
            for (Component c : cp.components()) {
                writeConfig(cp, c.kind() + "/config.json", c.config(), tmp);
                writeTensors(tmp.resolve(c.kind()).resolve(c.weightsFile()), c.tensors(), c.kind() + "/" + c.weightsFile());
            }
            writeConfig(cp, "scheduler/scheduler_config.json", cp.schedulerConfig, tmp);
            if (!Files.exists(tmp.resolve("model_index.json"))) writeModelIndex(cp, tmp.resolve("model_index.json"));
            Files.deleteIfExists(tmp.resolve(SamplingDefaults.FILE));
            if (!cp.samplingDefaults.equals(SamplingDefaults.STANDARD)) {
                writeJson(tmp.resolve(SamplingDefaults.FILE), cp.samplingDefaults.toJson());
            }
        });
    }

    /** Writes {@code cp} as one file in the original (LDM) layout; a single file's other tensors are carried along. */
    public void writeSingleFile(Checkpoint cp, Path out) throws IOException {
        Map<String, ModelTensor> all = new LinkedHashMap<>();
        Map<String, String> unetNames = originalUnetNames(cp.unet.config(), cp.unet.tensors().keySet());
        cp.unet.tensors().forEach((n, t) -> all.put(UNetOriginalNames.PREFIX + unetNames.get(n), t));
        Map<String, String> vaeNames = invert(VaeOriginalNames.originalToDiffusers(cp.vae.config()));
        cp.vae.tensors().forEach((n, t) -> {
            String original = vaeNames.get(n);
            if (original == null) throw new IllegalArgumentException("VAE tensor " + n + " has no original-layout name");
            all.put(Checkpoint.VAE_PREFIX + original, t);
        });
        cp.text.tensors().forEach((n, t) -> all.put(Checkpoint.TEXT_PREFIX + n, t));
        all.putAll(cp.extras);
        writeTensors(out, all, out.getFileName().toString());
    }

    /** The tensors as one safetensors file, each in its own format, with the metadata quantized ones need. */
    public void writeTensors(Path file, Map<String, ModelTensor> tensors, String label) throws IOException {
        long t0 = System.nanoTime();
        SafeTensorsWriter w = new SafeTensorsWriter();
        Map<String, Object> formats = new LinkedHashMap<>();
        long[] done = {0, System.nanoTime()};
        Runnable tick = () -> {
            done[0]++;
            if (progress != null && System.nanoTime() - done[1] > 1_000_000_000L) {
                done[1] = System.nanoTime();
                progress.printf("  %s: %d/%d tensors (%.0f s)%n", label, done[0], tensors.size(), (System.nanoTime() - t0) / 1e9);
            }
        };
        for (Map.Entry<String, ModelTensor> e : tensors.entrySet()) {
            String name = e.getKey();
            ModelTensor t = e.getValue();
            if (t.dtype().quantized()) {
                QuantizedTensors.add(w, name, t.dtype(), t.shape(), () -> {
                    Weight v = t.get();
                    byte[] bytes = v.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                    Residency.release(v.data());
                    tick.run();
                    return bytes;
                });
            } else {
                long count = t.size();
                Weight[] held = new Weight[1];
                w.add(name, t.dtype(), t.shape(), (off, dst, n) -> {
                    if (held[0] == null) held[0] = t.get();
                    held[0].copyTo(off, dst, 0, n);
                    if (off + n == count) {
                        Residency.release(held[0].data());
                        held[0] = null;
                        tick.run();
                    }
                });
            }
            formats.put(name, QuantizedTensors.describe(t.dtype(), t.shape()));
        }
        w.metadata(QuantizedTensors.WEIGHTS_KEY, Json.write(formats));
        w.metadata(QuantizedTensors.VERSION_KEY, QuantizedTensors.VERSION);
        w.metadata(QuantizedTensors.LAYOUT_KEY, QuantizedTensors.LAYOUT_TEXT);
        w.write(file);
        if (progress != null) {
            progress.printf("  %s: %d tensors, %s in %.1f s%n", label, tensors.size(), size(Files.size(file)), (System.nanoTime() - t0) / 1e9);
        }
    }

    /** Each UNet tensor's original name (without the prefix), by the longest module prefix the config maps. */
    static Map<String, String> originalUnetNames(Config unetConfig, Set<String> names) {
        Map<String, String> modules = invert(UNetOriginalNames.originalToDiffusers(unetConfig));
        Map<String, String> out = new HashMap<>();
        for (String name : names) {
            String original = null;
            for (int dot = name.lastIndexOf('.'); dot > 0 && original == null; dot = name.lastIndexOf('.', dot - 1)) {
                String target = modules.get(name.substring(0, dot));
                if (target != null) original = target + name.substring(dot);
            }
            if (original == null) throw new IllegalArgumentException("UNet tensor " + name + " has no original-layout name");
            out.put(name, original);
        }
        return out;
    }

    static Map<String, String> invert(Map<String, String> m) {
        Map<String, String> out = new HashMap<>();
        m.forEach((a, b) -> out.put(b, a));
        return out;
    }

    /** Every file of the source folder except what the checkpoint itself writes, and weights this runtime cannot read. */
    private void copyOtherFiles(Path from, Path to) throws IOException {
        List<Path> files;
        try (var walk = Files.walk(from)) {
            files = walk.filter(Files::isRegularFile).sorted(Comparator.comparing(Path::toString)).toList();
        }
        for (Path f : files) {
            Path rel = from.relativize(f);
            String lower = f.getFileName().toString().toLowerCase(Locale.ROOT);
            String top = rel.getNameCount() > 1 ? rel.getName(0).toString() : "";
            boolean componentFile = Set.of(Component.UNET, Component.VAE, Component.TEXT_ENCODER, "scheduler").contains(top)
                    && (lower.endsWith(".safetensors") || lower.equals("config.json") || lower.equals("scheduler_config.json"));
            if (componentFile) continue;
            if (PASS_FILES.contains(rel.toString().replace('\\', '/'))) continue; // what the source's own conversion wrote
            if (Files.exists(to.resolve(rel.toString()))) continue; // written by the pass itself
            if (OTHER_WEIGHTS.stream().anyMatch(lower::endsWith)) {
                notes.add("left out " + rel + " (not safetensors)");
                continue;
            }
            Path target = to.resolve(rel.toString());
            Files.createDirectories(target.getParent());
            Files.copy(f, target, StandardCopyOption.COPY_ATTRIBUTES);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var walk = Files.walk(from)) {
            for (Path f : walk.filter(Files::isRegularFile).toList()) {
                Path target = to.resolve(from.relativize(f).toString());
                Files.createDirectories(target.getParent());
                Files.copy(f, target, StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
    }

    /** A config as JSON; the source folder's own file, byte for byte, when the values are unchanged. */
    private static void writeConfig(Checkpoint cp, String relative, Config config, Path folder) throws IOException {
        Path target = folder.resolve(relative);
        if (cp.origin != null && Files.isDirectory(cp.origin) && Files.isRegularFile(cp.origin.resolve(relative))
                && Config.read(cp.origin.resolve(relative)).values().equals(config.values())) {
            Files.createDirectories(target.getParent());
            Files.copy(cp.origin.resolve(relative), target, StandardCopyOption.REPLACE_EXISTING);
            return;
        }
        writeJson(target, config.values());
    }

    private static void writeModelIndex(Checkpoint cp, Path file) throws IOException {
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("_class_name", "StableDiffusionPipeline");
        index.put("scheduler", List.of("diffusers", cp.schedulerConfig.getString("_class_name", "PNDMScheduler")));
        index.put("text_encoder", List.of("transformers", "CLIPTextModel"));
        index.put("tokenizer", List.of("transformers", "CLIPTokenizer"));
        index.put("unet", List.of("diffusers", "UNet2DConditionModel"));
        index.put("vae", List.of("diffusers", cp.vae.config().getString("_class_name", "AutoencoderKL")));
        writeJson(file, index);
    }

    private static void writeJson(Path file, Map<String, ?> values) throws IOException {
        Files.createDirectories(file.getParent());
        AtomicFiles.write(file, (Json.write(values) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    public static String size(long bytes) {
        return bytes >= 1L << 30 ? String.format("%.2f GiB", bytes / (double) (1L << 30)) : String.format("%.1f MiB", bytes / 1048576.0);
    }


}
