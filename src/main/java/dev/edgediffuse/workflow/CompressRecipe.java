package dev.edgediffuse.workflow;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.train.Recipe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A compress recipe (recipes/compress/*.json): {@code name}, {@code description}, {@code stages} (a list of objects,
 * each with {@code stage} naming one of {@link Stages} and that stage's keys) and {@code report} (what the report
 * measures, see {@link ReportSettings}). Every stage is parsed and the order checked ({@link #check}) before anything
 * runs; each problem is a one-line error naming the file, the stage and the key.
 */
public record CompressRecipe(Path file, String name, String description, List<Stage> stages, List<Map<String, Object>> specs,
                             ReportSettings report) {
    private static final Set<String> KEYS = Set.of("name", "description", "stages", "report");

    public static CompressRecipe read(Path file, Path dataOverride) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read recipe (" + e.getMessage() + ")");
        }
        String src = file.toString();
        Map<String, Object> r = Json.parseObject(text, src);
        Recipe.onlyKnownKeys(r, KEYS, src);
        if (!(r.get("name") instanceof String name)) throw new ModelFormatException(src + ": \"name\" must be a string");
        Object d = r.getOrDefault("description", "");
        if (!(d instanceof String description)) throw new ModelFormatException(src + ": \"description\" must be a string");
        if (!(r.get("stages") instanceof List<?> list) || list.isEmpty()) throw new ModelFormatException(src + ": \"stages\" must be a non-empty list");
        Path dir = file.toAbsolutePath().getParent();
        List<Stage> stages = new ArrayList<>();
        List<Map<String, Object>> specs = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String where = src + " stage " + (i + 1);
            if (!(list.get(i) instanceof Map<?, ?> m)) throw new ModelFormatException(where + ": must be an object with a \"stage\" key");
            @SuppressWarnings("unchecked") Map<String, Object> json = (Map<String, Object>) m;
            if (!(json.get("stage") instanceof String kind)) throw new ModelFormatException(where + ": \"stage\" must name one of " + Stages.names());
            var factory = Stages.REGISTRY.get(kind);
            if (factory == null) throw new ModelFormatException(where + ": unknown stage \"" + kind + "\" (known: " + String.join(", ", Stages.names()) + ")");
            StageSpec spec = new StageSpec(json, where + " (" + kind + ")", dir);
            Stage stage = factory.apply(spec, dataOverride);
            spec.done();
            stages.add(stage);
            Map<String, Object> canonical = new java.util.TreeMap<>(spec.canonical());
            canonical.put("stage", kind);
            specs.add(canonical);
        }
        Object rep = r.getOrDefault("report", Map.of());
        if (!(rep instanceof Map<?, ?> rm)) throw new ModelFormatException(src + ": \"report\" must be an object");
        @SuppressWarnings("unchecked") Map<String, Object> repJson = (Map<String, Object>) rm;
        StageSpec rs = new StageSpec(repJson, src + " report", dir);
        ReportSettings settings = ReportSettings.parse(rs);
        rs.done();
        CompressRecipe recipe = new CompressRecipe(file, name, description, stages, specs, settings);
        recipe.check();
        return recipe;
    }

    /** The order checks: what cannot work is refused before any stage runs. */
    void check() {
        int quantizedAt = -1, calibratedAt = -1;
        for (int i = 0; i < stages.size(); i++) {
            Stage s = stages.get(i);
            String where = file + " stage " + (i + 1) + " (" + s.kind() + ")";
            switch (s.effect()) {
                case WEIGHTS -> {
                    if (quantizedAt >= 0) {
                        throw new ModelFormatException(where + ": cannot follow stage " + (quantizedAt + 1) + " (quantize): it changes float "
                                + "weights, which quantize has replaced; put it before quantize");
                    }
                    calibratedAt = -1;
                }
                case CALIBRATION -> {
                    if (quantizedAt >= 0) throw new ModelFormatException(where + ": cannot follow stage " + (quantizedAt + 1)
                            + " (quantize): calibrate records the float model that quantize plans from; put it before quantize");
                    calibratedAt = i;
                }
                case QUANTIZE -> {
                    if (quantizedAt >= 0) throw new ModelFormatException(where + ": the model is already quantized by stage " + (quantizedAt + 1));
                    quantizedAt = i;
                }
                case SAMPLING -> {
                }
            }
            if (s.needsCalibration() && calibratedAt < 0) {
                throw new ModelFormatException(where + ": needs calibration data of its input (target_bits/target_mb, rounding gptq or "
                        + "lowrank): put a calibrate stage after the last prune/distill/lcm/lora-merge stage and before it");
            }
            if (s.changesSampling() && s.effect() != Stage.Effect.WEIGHTS && calibratedAt >= 0 && quantizedAt < 0
                    && stages.subList(i + 1, stages.size()).stream().anyMatch(Stage::needsCalibration)) {
                throw new ModelFormatException(where + ": changes the steps or scheduler the calibration of stage " + (calibratedAt + 1)
                        + " was recorded with, before a stage that needs it; put it after quantize");
            }
            Path data = s.trainingData();
            if (data != null && !Files.isDirectory(data)) {
                throw new ModelFormatException(where + ": needs training data, but " + data + " is not a folder (the stage recipe's \"data\"; "
                        + "give --data DIR)");
            }
        }
    }
}
