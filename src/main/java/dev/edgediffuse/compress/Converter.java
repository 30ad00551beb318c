package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.tensor.DType;

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
 * {@code convert}: passes, then write. A diffusers pipeline folder is opened as a {@link Checkpoint}, given the
 * weight-format pass and written as a folder; a single .safetensors file, or any other folder of them (a standalone
 * VAE), is converted file by file under its own tensor names, other files copied. The output appears only once
 * complete, and memory stays near one tensor's size.
 */
public final class Converter {
    /** Per format: tensors and elements written; plus bytes in and out and what was left out. */
    public static final class Stats {
        public final Map<String, long[]> perFormat = new TreeMap<>();
        public final Map<String, Integer> keptReasons = new TreeMap<>();
        public final List<String> notes = new ArrayList<>();
        public long bytesIn, bytesOut;
        public int files;
        /** Low-rank layers: name → output error with the branch, and of plain quantization (same rounding). */
        public final Map<String, double[]> lowRank = new java.util.concurrent.ConcurrentSkipListMap<>();

        void lowRank(String name, LowRankQuant.Result r) {
            lowRank.put(name, new double[]{r.error(), r.plainError(), r.iterations()});
        }

        void count(DType format, long elements, String reason) {
            long[] c = perFormat.computeIfAbsent(format.formatName(), k -> new long[2]);
            c[0]++;
            c[1] += elements;
            if (!reason.equals("target") && !format.quantized()) keptReasons.merge(reason, 1, Integer::sum);
        }
    }

    private final FormatPlan plan;
    private final QuantizePass.Methods methods;
    private final java.util.function.Function<Checkpoint, Map<String, byte[]>> files;
    private final PrintStream progress;
    private final Stats stats = new Stats();

    /** {@code progress} (nullable) gets a line per file and a running count during long files. */
    public Converter(FormatPlan plan, Quantizer.Clip clip, PrintStream progress) {
        this(plan, QuantizePass.Methods.plain(clip), cp -> Map.of(), progress);
    }

    /**
     * Calibrated methods (GPTQ, low rank) for a diffusers pipeline folder; {@code files} gives, for the converted
     * model, further files to write into its folder (the plan, activation ranges).
     */
    public Converter(FormatPlan plan, QuantizePass.Methods methods, java.util.function.Function<Checkpoint, Map<String, byte[]>> files,
                     PrintStream progress) {
        this.plan = plan;
        this.methods = methods;
        this.files = files;
        this.progress = progress;
    }

    private boolean calibrated() {
        return methods.calibration() != null || methods.lowRank() > 0;
    }

    /** A rule that names no tensor is a mistake (a typo in a glob), not a no-op. */
    private void checkRules() {
        List<FormatPlan.Rule> unmatched = plan.unmatchedRules();
        if (!unmatched.isEmpty()) {
            throw new IllegalArgumentException("layer rule '" + unmatched.getFirst().spec() + "' matches no tensor (globs see "
                    + "component/tensor names in a model folder, e.g. unet/conv_in.weight; tensor names in a file)");
        }
    }

    public Stats convert(Path in, Path out) throws IOException {
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--out must differ from --model (" + in + ")");
        }
        if (Files.isDirectory(in) && out.toAbsolutePath().normalize().startsWith(in.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--out " + out + " must not lie inside the model folder " + in);
        }
        boolean pipeline = Files.isDirectory(in) && Files.isRegularFile(in.resolve("model_index.json"));
        if (calibrated() && !pipeline) {
            throw new IllegalArgumentException(in + ": calibrated methods (--calibration, --target-bits, --rounding gptq, --lowrank) "
                    + "need a diffusers model folder");
        }
        if (pipeline) convertPipeline(in, out);
        else if (Files.isDirectory(in)) convertFolder(in, out);
        else if (Files.isRegularFile(in)) convertFile(in, out, "", in.getFileName().toString(), true);
        else throw new ModelFormatException(in + ": model not found (expected a folder or a .safetensors file)");
        return stats;
    }

    private void convertPipeline(Path in, Path out) throws IOException {
        try (Checkpoint cp = Checkpoint.open(in, null)) {
            CheckpointWriter writer = new CheckpointWriter(progress);
            Checkpoint converted = QuantizePass.apply(cp, plan, methods, stats);
            checkRules();
            writer.writeFolder(converted, out, files.apply(converted));
            stats.notes.addAll(writer.notes);
            stats.bytesIn += weightBytes(in);
            stats.bytesOut += weightBytes(out);
            stats.files += cp.components().size();
        }
    }

    /** A folder that is not a pipeline: each .safetensors converted (rules see {@code folder/name}), the rest copied. */
    private void convertFolder(Path in, Path out) throws IOException {
        AtomicFiles.writeFolder(out, tmp -> {
            List<Path> files;
            try (var walk = Files.walk(in)) {
                files = walk.filter(Files::isRegularFile).sorted(Comparator.comparing(Path::toString)).toList();
            }
            for (Path f : files) {
                Path rel = in.relativize(f);
                Path target = tmp.resolve(rel.toString());
                Files.createDirectories(target.getParent());
                if (f.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
                    Path parent = rel.getParent();
                    convertFile(f, target, parent == null ? "" : parent.toString().replace('\\', '/') + "/", rel.toString(), false);
                } else {
                    Files.copy(f, target, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
            checkRules();
        });
    }

    /** One safetensors file; rules see its tensors as {@code prefix + name}; {@code alone}: the whole conversion. */
    private void convertFile(Path in, Path out, String prefix, String label, boolean alone) throws IOException {
        try (SafeTensors st = SafeTensors.open(in)) {
            Map<String, ModelTensor> tensors = new LinkedHashMap<>();
            st.tensors().forEach((name, w) -> tensors.put(name, ModelTensor.of(w)));
            Map<String, ModelTensor> converted = QuantizePass.apply(tensors, prefix, plan, methods.clip(), stats);
            if (alone) checkRules(); // all tensors are decided here, before anything is written
            new CheckpointWriter(progress).writeTensors(out, converted, label);
            if (!st.skippedTensors().isEmpty()) {
                stats.notes.add(label + ": left out integer tensors " + st.skippedTensors() + " (not weights)");
            }
            stats.bytesIn += Files.size(in);
            stats.bytesOut += Files.size(out);
            stats.files++;
        }
    }

    private static long weightBytes(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            return walk.filter(p -> p.toString().endsWith(".safetensors")).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    return 0;
                }
            }).sum();
        }
    }

    public static String gb(long bytes) {
        return CheckpointWriter.size(bytes);
    }

}
