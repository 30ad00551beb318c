package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.compress.ModelIdentity;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.progress.Progress;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs a compress recipe's stages in order, each into its own folder of the work folder named by a key hashed from the
 * stage's settings (defaults filled in), the files it reads, and the key of what it runs on (the input model's
 * identity for the first stage). A folder that is there is a finished stage: a killed or re-run recipe continues
 * after the last one, a changed stage (or one after it) gets a new key and runs again. Training stages resume from
 * their {@code .work} folder.
 */
public final class Workflow {
    /** Bumped when what a stage writes changes, so old caches are not taken for new ones. */
    static final String VERSION = "edgediffuse-compress/1";
    static final String STAGE_FILE = "stage.json";

    /** One stage as run: where its output is, the model (and calibration) after it, whether it came from the cache. */
    public record StageRun(int index, String kind, String key, Path dir, boolean cached, double seconds, Path model, Path calibration,
                           boolean newModel, Map<String, Object> spec) {}

    public record Result(Path input, String inputKey, List<StageRun> stages) {
        public Path finalModel() {
            return stages.isEmpty() ? input : stages.getLast().model();
        }

        public int ran() {
            return (int) stages.stream().filter(s -> !s.cached()).count();
        }
    }

    private final CompressRecipe recipe;
    private final Path work;
    private final PrintStream log;

    public Workflow(CompressRecipe recipe, Path work, PrintStream log) {
        this.recipe = recipe;
        this.work = work;
        this.log = log;
    }

    public Result run(Path input) throws IOException {
        Files.createDirectories(work);
        removeUnfinished();
        String upstream = inputKey(input);
        Path model = input, calibration = null, previousInput = null;
        String previousKind = null;
        List<StageRun> runs = new ArrayList<>();
        int n = recipe.stages().size();
        Progress progress = Progress.steps(log, "compress stages", n);
        for (int i = 0; i < n; i++) {
            Stage stage = recipe.stages().get(i);
            Map<String, Object> spec = recipe.specs().get(i);
            String key = key(spec, stage, upstream);
            Path dir = work.resolve(String.format("%02d-%s-%s", i + 1, stage.kind(), key.substring(0, 12)));
            boolean cached = Files.isRegularFile(dir.resolve(STAGE_FILE));
            long t0 = System.nanoTime();
            if (log != null) {
                log.printf("stage %d/%d %s %s: %s%n", i + 1, n, stage.kind(), Json.write(withoutKind(spec)),
                        cached ? "cached in " + dir : "running into " + dir);
            }
            if (!cached) {
                Path trainWork = work.resolve(dir.getFileName() + ".work");
                Path in = model, cal = calibration, prev = previousInput;
                String prevKind = previousKind;
                AtomicFiles.writeFolder(dir, tmp -> {
                    stage.run(new StageContext(in, cal, prev, prevKind, tmp, trainWork, log));
                    Map<String, Object> record = new LinkedHashMap<>();
                    record.put("stage", stage.kind());
                    record.put("key", key);
                    record.put("spec", spec);
                    record.put("input", in.toAbsolutePath().toString());
                    record.put("seconds", (System.nanoTime() - t0) / 1e9);
                    AtomicFiles.write(tmp.resolve(STAGE_FILE), Json.write(record).getBytes(StandardCharsets.UTF_8));
                });
                AtomicFiles.deleteTree(trainWork);
            }
            double seconds = cached ? recordedSeconds(dir) : (System.nanoTime() - t0) / 1e9;
            boolean newModel = Files.isDirectory(dir.resolve(StageContext.MODEL));
            previousInput = model;
            previousKind = stage.kind();
            if (newModel) {
                model = dir.resolve(StageContext.MODEL);
                calibration = null;
            }
            if (Files.isDirectory(dir.resolve(StageContext.QUANT))) calibration = dir.resolve(StageContext.QUANT);
            runs.add(new StageRun(i + 1, stage.kind(), key, dir, cached, seconds, model, calibration, newModel, spec));
            upstream = key;
            progress.update(i + 1, stage.kind() + (cached ? " (cached)" : String.format(" %.1f s", seconds)));
        }
        return new Result(input, inputKey(input), runs);
    }

    /** A stage killed while writing left its temporary folder (".NAME.part"): it is remade from the start. */
    private void removeUnfinished() throws IOException {
        try (var files = Files.list(work)) {
            for (Path p : files.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith(".") && n.endsWith(".part") && Files.isDirectory(p)) AtomicFiles.deleteTree(p);
            }
        }
    }

    /** The key of a stage: its settings, the files it reads and what it runs on. */
    static String key(Map<String, Object> spec, Stage stage, String upstream) {
        return Digests.of(VERSION + "\n" + upstream + "\n" + Json.write(new TreeMap<>(spec)) + "\n"
                + Json.write(new TreeMap<>(stage.fileDigests())));
    }

    /**
     * The input model's key: its UNet identity ({@link ModelIdentity}: configs, tensor names, formats, sampled values),
     * its sampling defaults and the names, formats and shapes of its other components' tensors.
     */
    static String inputKey(Path model) {
        try (Checkpoint cp = Checkpoint.open(model, null)) {
            StringBuilder b = new StringBuilder(ModelIdentity.of(cp)).append('\n').append(Json.write(cp.samplingDefaults.toJson())).append('\n');
            for (var c : List.of(cp.vae, cp.text)) {
                for (ModelTensor t : new TreeMap<>(c.tensors()).values()) {
                    b.append(t.name()).append('|').append(t.dtype().formatName()).append('|').append(java.util.Arrays.toString(t.shape())).append('\n');
                }
            }
            return Digests.of(b.toString());
        }
    }

    private static Map<String, Object> withoutKind(Map<String, Object> spec) {
        Map<String, Object> m = new LinkedHashMap<>(spec);
        m.remove("stage");
        return m;
    }

    private static double recordedSeconds(Path dir) {
        try {
            Object s = Json.parseObject(Files.readString(dir.resolve(STAGE_FILE)), dir + "").get("seconds");
            return s instanceof Number x ? x.doubleValue() : 0;
        } catch (IOException e) {
            return 0;
        }
    }
}
