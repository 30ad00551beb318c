package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.QuantLayout;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per UNet layer and candidate format, the error that quantizing that layer alone causes in the UNet's output
 * (HAWQ-style sensitivity, measured rather than estimated from weight error): the kept calibration calls are run
 * through the model once as it is and once per (layer, format) with only that layer's weight quantized, and the mean
 * squared difference of the noise predictions is the layer's cost in that format. {@link MixedPrecision} adds them up.
 * A layer already stored in a format costs 0 in it. With {@link Measure#COARSEST} only each layer's fewest-bit
 * format is run through the model; the others are scaled by their layer-output error relative to it
 * (tr(ΔW·H·ΔWᵀ) from the calibration Hessian), which is exact while errors are small and linear — a model-call per
 * layer instead of one per format, for large models. The table is written row by row to a partial file that a rerun
 * resumes from (same rows, bit for bit), then renamed into place.
 */
public final class Sensitivity {
    public static final String FILE = "sensitivity.tsv";
    static final String MAGIC = "# edgediffuse sensitivity v1";

    public enum Measure {
        ALL, COARSEST;

        public static Measure parse(String s) {
            return switch (s) {
                case "all" -> ALL;
                case "coarsest" -> COARSEST;
                default -> throw new IllegalArgumentException("--measure must be all or coarsest, got '" + s + "'");
            };
        }
    }

    /** One layer in one format: its storage bits per weight and the UNet output MSE it causes alone. */
    public record Entry(String tensor, long params, DType format, double bits, double mse, boolean measured) {}

    /** The table: header settings (model identity, how it was measured) and entries in model order. */
    public record Table(Map<String, String> header, List<Entry> entries) {
        /** Entries by tensor name, in model order. */
        public Map<String, List<Entry>> byTensor() {
            Map<String, List<Entry>> m = new LinkedHashMap<>();
            for (Entry e : entries) m.computeIfAbsent(e.tensor, k -> new ArrayList<>()).add(e);
            return m;
        }

        public String identity() {
            return header.get("identity");
        }

        public static Table read(Path file) {
            List<String> lines;
            try {
                lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new ModelFormatException(file + ": no sensitivity table (run edgediffuse sensitivity first): " + e.getMessage());
            }
            if (lines.isEmpty() || !lines.getFirst().equals(MAGIC)) throw new ModelFormatException(file + ": not a sensitivity table");
            Map<String, String> header = new LinkedHashMap<>();
            List<Entry> entries = new ArrayList<>();
            for (int i = 1; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.startsWith("# ")) {
                    int eq = line.indexOf('=');
                    if (eq > 2) header.put(line.substring(2, eq), line.substring(eq + 1));
                    continue;
                }
                if (line.isBlank() || line.startsWith("layer\t")) continue;
                String[] f = line.split("\t");
                try {
                    DType t = DType.fromFormatName(f[2]);
                    if (f.length != 6 || t == null) throw new IllegalArgumentException("6 columns and a known format");
                    entries.add(new Entry(f[0], Long.parseLong(f[1]), t, Double.parseDouble(f[3]), Double.parseDouble(f[4]), f[5].equals("measured")));
                } catch (RuntimeException e) {
                    throw new ModelFormatException(file + ": line " + (i + 1) + " is malformed (" + e.getMessage() + ")");
                }
            }
            return new Table(header, entries);
        }

        String headerText() {
            StringBuilder b = new StringBuilder(MAGIC).append('\n');
            header.forEach((k, v) -> b.append("# ").append(k).append('=').append(v).append('\n'));
            return b.append("layer\tparams\tformat\tbits\tmse\thow\n").toString();
        }

        static String row(Entry e) {
            return e.tensor + "\t" + e.params + "\t" + e.format.formatName() + "\t" + String.format(Locale.ROOT, "%.4f", e.bits) + "\t"
                    + e.mse + "\t" + (e.measured ? "measured" : "scaled") + "\n";
        }
    }

    /** How a table is measured. */
    public record Settings(List<DType> formats, Quantizer.Clip clip, Rounding rounding, Measure measure, int batch) {}

    private Sensitivity() {}

    /** Storage bits per weight of a weight of {@code shape} in {@code format} (codes, scales and zero points). */
    public static double bits(DType format, int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (!format.quantized()) return format.bytes * 8.0;
        return QuantLayout.of(format, shape).totalBytes() * 8.0 / n;
    }

    /** The UNet tensors the planner chooses formats for: matrix weights outside the default keep list. */
    public static boolean plannable(String tensor, int[] shape) {
        if (!FormatPlan.quantizable(tensor, shape, DType.F16)) return false;
        for (String g : FormatPlan.DEFAULT_KEEP) if (FormatPlan.regex(g).matcher("unet/" + tensor).matches()) return false;
        return true;
    }

    /** The formats of {@code formats} a weight of {@code shape} can take (K a multiple of the group). */
    public static List<DType> candidates(String tensor, int[] shape, List<DType> formats) {
        List<DType> out = new ArrayList<>();
        for (DType f : formats) if (!f.quantized() || FormatPlan.quantizable(tensor, shape, f)) out.add(f);
        return out;
    }

    /**
     * Measures the table for {@code cp} on its calibration and writes it to {@code out} (resuming from
     * {@code out}.partial when a killed run left one with the same header).
     */
    public static Table measure(Checkpoint cp, Calibration calibration, Settings s, Path out, PrintStream progress) throws IOException {
        String identity = ModelIdentity.of(cp);
        if (!identity.equals(calibration.identity)) {
            throw new IllegalArgumentException(calibration.file() + " was taken from another model (" + calibration.modelName + "): calibrate this model");
        }
        FeatureMap latents = calibration.keptLatents();
        float[] ts = calibration.keptTimesteps(), ctx = calibration.keptContext();
        int tokens = calibration.keptContextTokens();
        LayerSwap swap = new LayerSwap();
        UNet2DConditionModel unet = new UNet2DConditionModel(cp.unet.config(), cp.unet.weights().withPolicy(swap));
        float[] reference = predict(unet, latents, ts, ctx, tokens, s.batch);
        double power = 0;
        for (float v : reference) power += (double) v * v;
        power /= reference.length;

        Map<String, String> header = new LinkedHashMap<>();
        header.put("model", cp.name);
        header.put("identity", identity);
        header.put("calibration", calibration.file().getFileName().toString());
        header.put("scheduler", calibration.settings.scheduler());
        header.put("steps", String.valueOf(calibration.settings.steps()));
        header.put("rows", String.valueOf(latents.batch()));
        header.put("rounding", s.rounding.label());
        header.put("clip", s.clip.name().toLowerCase(Locale.ROOT));
        header.put("measure", s.measure.name().toLowerCase(Locale.ROOT));
        List<String> names = new ArrayList<>();
        for (DType f : s.formats) names.add(f.formatName());
        header.put("formats", String.join(",", names));
        header.put("output_mean_square", String.valueOf(power));
        Table table = new Table(header, new ArrayList<>());

        Path partial = out.resolveSibling(out.getFileName() + ".partial");
        Map<String, List<Entry>> done = resumed(partial, table);
        if (done.isEmpty()) AtomicFiles.write(partial, table.headerText().getBytes(StandardCharsets.UTF_8));

        List<String> layers = new ArrayList<>();
        for (String path : swap.paths()) {
            ModelTensor t = cp.unet.tensors().get(path + ".weight");
            if (t != null && plannable(t.name(), t.shape()) && !candidates(t.name(), t.shape(), s.formats).isEmpty()) layers.add(path);
        }
        Progress bar = Progress.items(progress, "sensitivity", layers.size(), "layers");
        int finished = 0;
        for (String path : layers) {
            String tensor = path + ".weight";
            List<Entry> rows = done.get(tensor);
            if (rows == null) {
                rows = layer(unet, swap, path, cp.unet.tensors().get(tensor), calibration.layer(path), s, latents, ts, ctx, tokens, reference);
                StringBuilder text = new StringBuilder();
                for (Entry e : rows) text.append(Table.row(e));
                Files.writeString(partial, text, StandardCharsets.UTF_8, StandardOpenOption.APPEND, StandardOpenOption.SYNC);
            }
            table.entries.addAll(rows);
            bar.step(++finished);
        }
        AtomicFiles.write(out, (table.headerText() + rowsText(table)).getBytes(StandardCharsets.UTF_8));
        Files.deleteIfExists(partial);
        return table;
    }

    private static String rowsText(Table t) {
        StringBuilder b = new StringBuilder();
        for (Entry e : t.entries) b.append(Table.row(e));
        return b.toString();
    }

    /** Rows of a partial table with this header, by tensor (complete layers only); empty when there is none. */
    private static Map<String, List<Entry>> resumed(Path partial, Table table) {
        if (!Files.isRegularFile(partial)) return Map.of();
        Table old;
        try {
            old = Table.read(partial);
        } catch (RuntimeException e) {
            return Map.of();
        }
        if (!old.header.equals(table.header)) return Map.of();
        Map<String, List<Entry>> by = old.byTensor();
        return by;
    }

    /** One layer's entries: each candidate format's output error, measured or scaled. */
    private static List<Entry> layer(UNet2DConditionModel unet, LayerSwap swap, String path, ModelTensor t, Calibration.Layer calib,
                                     Settings s, FeatureMap latents, float[] ts, float[] ctx, int tokens, float[] reference) {
        Weight w = t.get();
        float[] original = w.toFloats();
        List<DType> formats = candidates(t.name(), t.shape(), s.formats);
        DType coarsest = null;
        for (DType f : formats) if (coarsest == null || bits(f, t.shape()) < bits(coarsest, t.shape())) coarsest = f;
        boolean scale = s.measure == Measure.COARSEST && calib != null;
        Map<DType, Double> mse = new LinkedHashMap<>();
        Map<DType, Double> layerError = new LinkedHashMap<>();
        for (DType f : formats) {
            if (f == w.dtype()) {
                mse.put(f, 0.0);
                continue;
            }
            Weight q = f.quantized() ? s.rounding.apply(w, f, s.clip, calib) : QuantizePass.floats(w, f);
            if (scale) layerError.put(f, LayerError.of(original, q.toFloats(), calib));
            if (!scale || f == coarsest) {
                swap.swap(path, q);
                try {
                    float[] y = predict(unet, latents, ts, ctx, tokens, s.batch);
                    double sum = 0;
                    for (int i = 0; i < y.length; i++) {
                        double d = (double) y[i] - reference[i];
                        sum += d * d;
                    }
                    mse.put(f, sum / y.length);
                } finally {
                    swap.restore(path);
                }
            }
        }
        List<Entry> rows = new ArrayList<>();
        for (DType f : formats) {
            Double m = mse.get(f);
            boolean measured = m != null;
            if (m == null) {
                double ref = layerError.getOrDefault(coarsest, 0.0);
                m = ref == 0 ? 0 : mse.get(coarsest) * layerError.get(f) / ref;
            }
            rows.add(new Entry(t.name(), t.size(), f, bits(f, t.shape()), m, measured));
        }
        return rows;
    }

    /** The UNet's output on the kept calls, {@code batch} rows per call. */
    static float[] predict(UNet2DConditionModel unet, FeatureMap x, float[] ts, float[] ctx, int tokens, int batch) {
        int rows = x.batch(), n = x.pixels() * x.channels(), dim = ctx.length / (rows * tokens);
        float[] out = null;
        for (int r0 = 0; r0 < rows; r0 += batch) {
            int b = Math.min(batch, rows - r0);
            FeatureMap in = new FeatureMap(java.util.Arrays.copyOfRange(x.data(), r0 * n, (r0 + b) * n), b, x.height(), x.width(), x.channels());
            float[] y = unet.predict(in, java.util.Arrays.copyOfRange(ts, r0, r0 + b),
                    java.util.Arrays.copyOfRange(ctx, r0 * tokens * dim, (r0 + b) * tokens * dim), tokens).data();
            if (out == null) out = new float[rows * (y.length / b)];
            System.arraycopy(y, 0, out, r0 * (y.length / b), b * (y.length / b));
        }
        Buffers.clear();
        return out;
    }
}
