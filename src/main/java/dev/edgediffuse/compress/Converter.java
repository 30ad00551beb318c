package dev.edgediffuse.compress;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.QuantizedTensors;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Residency;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Converts a checkpoint's weights to other formats: a single .safetensors file to one file, or a folder (diffusers
 * layout, or a standalone VAE) to a folder with every other file copied as is. The output loads memory-mapped like
 * any checkpoint; it appears only once complete (a file via a temporary sibling, a folder via a renamed temporary
 * folder). Tensors are converted one at a time, streamed, so memory stays near one tensor's size.
 */
public final class Converter {
    /** Weight files this runtime does not read: left out of a converted folder. */
    private static final List<String> OTHER_WEIGHTS = List.of(".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".gguf");

    /** Per format: tensors and elements written; plus bytes in and out and what was left out. */
    public static final class Stats {
        public final Map<String, long[]> perFormat = new TreeMap<>();
        public final Map<String, Integer> keptReasons = new TreeMap<>();
        public final List<String> notes = new ArrayList<>();
        public long bytesIn, bytesOut;
        public int files;

        void count(DType format, long elements, String reason) {
            long[] c = perFormat.computeIfAbsent(format.formatName(), k -> new long[2]);
            c[0]++;
            c[1] += elements;
            if (!reason.equals("target")) keptReasons.merge(reason, 1, Integer::sum);
        }
    }

    private final FormatPlan plan;
    private final Quantizer.Clip clip;
    private final PrintStream progress;
    private final Stats stats = new Stats();

    /** {@code progress} (nullable) gets a line per file and a running count during long files. */
    public Converter(FormatPlan plan, Quantizer.Clip clip, PrintStream progress) {
        this.plan = plan;
        this.clip = clip;
        this.progress = progress;
    }

    public Stats convert(Path in, Path out) throws IOException {
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--out must differ from --model (" + in + ")");
        }
        if (Files.isDirectory(in) && out.toAbsolutePath().normalize().startsWith(in.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--out " + out + " must not lie inside the model folder " + in);
        }
        if (Files.isDirectory(in)) convertFolder(in, out);
        else if (Files.isRegularFile(in)) convertFile(in, out, "", in.getFileName().toString());
        else throw new ModelFormatException(in + ": model not found (expected a folder or a .safetensors file)");
        return stats;
    }

    private void convertFolder(Path in, Path out) throws IOException {
        if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out))) {
            throw new IllegalArgumentException(out + " already exists; choose a new output folder");
        }
        Path abs = out.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempDirectory(abs.getParent(), abs.getFileName() + ".part");
        try {
            // temporary folders are private (0700); the finished model should be as readable as a mkdir'd one
            if (Files.getFileStore(tmp).supportsFileAttributeView("posix")) {
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            List<Path> files;
            try (var walk = Files.walk(in)) {
                files = walk.filter(Files::isRegularFile).sorted(Comparator.comparing(Path::toString)).toList();
            }
            for (Path f : files) {
                Path rel = in.relativize(f);
                String name = f.getFileName().toString(), lower = name.toLowerCase(Locale.ROOT);
                Path target = tmp.resolve(rel.toString());
                Files.createDirectories(target.getParent());
                if (lower.endsWith(".safetensors")) {
                    String plain = name.replaceFirst("(?i)\\.fp16\\.safetensors$", ".safetensors");
                    if (!plain.equals(name) && Files.exists(f.resolveSibling(plain))) {
                        stats.notes.add("left out " + rel + " (converted " + plain + " instead)");
                        continue;
                    }
                    Path parent = rel.getParent();
                    convertFile(f, target.resolveSibling(plain), parent == null ? "" : parent.toString().replace('\\', '/') + "/", rel.toString());
                } else if (OTHER_WEIGHTS.stream().anyMatch(lower::endsWith)) {
                    stats.notes.add("left out " + rel + " (not safetensors)");
                } else {
                    Files.copy(f, target, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
            if (Files.exists(out)) Files.delete(out); // the empty folder checked above
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
    }

    /** One safetensors file; rules see its tensors as {@code prefix + name}. */
    private void convertFile(Path in, Path out, String prefix, String label) throws IOException {
        long t0 = System.nanoTime();
        try (SafeTensors st = SafeTensors.open(in)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            st.metadata().forEach((k, v) -> {
                if (!k.startsWith("edgediffuse.")) w.metadata(k, v);
            });
            Map<String, Object> formats = new LinkedHashMap<>();
            int total = st.tensors().size();
            long[] done = {0};
            long[] lastReport = {System.nanoTime()};
            Runnable tick = () -> {
                done[0]++;
                if (progress != null && System.nanoTime() - lastReport[0] > 1_000_000_000L) {
                    lastReport[0] = System.nanoTime();
                    progress.printf("  %s: %d/%d tensors (%.0f s)%n", label, done[0], total, (System.nanoTime() - t0) / 1e9);
                }
            };
            for (Map.Entry<String, Weight> e : st.tensors().entrySet()) {
                String name = e.getKey();
                Weight src = e.getValue();
                FormatPlan.Decision d = plan.decide(prefix + name, src);
                int[] shape = src.shape();
                if (d.format().quantized()) {
                    QuantizedTensors.add(w, name, d.format(), shape, () -> {
                        byte[] q = Quantizer.quantize(src.toFloats(), shape, d.format(), clip);
                        Residency.release(src.data());
                        tick.run();
                        return q;
                    });
                } else {
                    long count = src.size();
                    w.add(name, d.format(), shape, (off, dst, n) -> {
                        src.copyTo(off, dst, 0, n);
                        if (off + n == count) {
                            Residency.release(src.data());
                            tick.run();
                        }
                    });
                }
                formats.put(name, QuantizedTensors.describe(d.format(), shape));
                stats.count(d.format(), src.size(), d.reason());
            }
            w.metadata(QuantizedTensors.WEIGHTS_KEY, Json.write(formats));
            w.metadata(QuantizedTensors.VERSION_KEY, QuantizedTensors.VERSION);
            w.metadata(QuantizedTensors.LAYOUT_KEY, QuantizedTensors.LAYOUT_TEXT);
            w.write(out);
            if (!st.skippedTensors().isEmpty()) {
                stats.notes.add(label + ": left out integer tensors " + st.skippedTensors() + " (not weights)");
            }
            stats.bytesIn += Files.size(in);
            stats.bytesOut += Files.size(out);
            stats.files++;
            if (progress != null) {
                progress.printf("  %s: %d tensors, %s -> %s in %.1f s%n", label, total, gb(Files.size(in)), gb(Files.size(out)),
                        (System.nanoTime() - t0) / 1e9);
            }
        }
    }

    public static String gb(long bytes) {
        return bytes >= 1L << 30 ? String.format("%.2f GiB", bytes / (double) (1L << 30)) : String.format("%.1f MiB", bytes / 1048576.0);
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    private static void deleteTree(Path p) {
        try (var paths = Files.walk(p)) {
            for (Path x : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        } catch (IOException ignored) {
            // a leftover temporary folder is harmless
        }
    }
}
