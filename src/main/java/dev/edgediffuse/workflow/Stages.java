package dev.edgediffuse.workflow;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

/** The stages a recipe may name: adding one is a class and a line here. */
public final class Stages {
    private Stages() {}

    /** A stage from its spec; {@code data} overrides the training data of stages that train (or null). */
    static final Map<String, BiFunction<StageSpec, Path, Stage>> REGISTRY = new LinkedHashMap<>();

    static {
        REGISTRY.put("prune", (s, data) -> new PruneStage(s));
        REGISTRY.put("distill", DistillStage::new);
        REGISTRY.put("lcm", LcmStage::new);
        REGISTRY.put("lora-merge", (s, data) -> new LoraMergeStage(s));
        REGISTRY.put("calibrate", (s, data) -> new CalibrateStage(s));
        REGISTRY.put("quantize", (s, data) -> new QuantizeStage(s));
        REGISTRY.put("qat", QatStage::new);
        REGISTRY.put("speedups", (s, data) -> new SpeedupsStage(s));
    }

    public static java.util.Set<String> names() {
        return REGISTRY.keySet();
    }
}
