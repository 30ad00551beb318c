package dev.edgediffuse.lora;

import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.DenseConv;
import dev.edgediffuse.nn.DenseLinear;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.LowRankConv;
import dev.edgediffuse.nn.LowRankLinear;
import dev.edgediffuse.nn.Weights;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * LoRA at run time: each adapted layer, as {@code base} builds it, gets one low-rank branch per factor
 * (y = base(x) + scale·up(down(x))). The base keeps its format — a 4-bit weight stays 4-bit while the branch stays in
 * the file's 16 or 32 bits, so a small delta is not rounded away. With trainable factors (heap f32 arrays) the
 * branches train while the base stays frozen (QLoRA when the base is quantized).
 */
public final class LoraPolicy implements LayerPolicy {
    private final LayerPolicy base;
    private final Map<String, List<Adapters.Factor>> factors;
    private final Set<String> built = new HashSet<>();

    public LoraPolicy(LayerPolicy base, Map<String, List<Adapters.Factor>> factors) {
        this.base = base;
        this.factors = factors;
    }

    @Override
    public Linear linear(Weights w, LinearSpec spec) {
        Linear layer = base.linear(w, spec);
        for (Adapters.Factor f : factors.getOrDefault(spec.path(), List.of())) {
            Weights branch = branch(f);
            layer = new LowRankLinear(layer, new DenseLinear(branch, "down", spec.in(), f.rank(), false),
                    new DenseLinear(branch, "up", f.rank(), spec.out(), false), f.scale());
            built.add(spec.path());
        }
        return layer;
    }

    @Override
    public Conv conv(Weights w, ConvSpec spec) {
        Conv layer = base.conv(w, spec);
        for (Adapters.Factor f : factors.getOrDefault(spec.path(), List.of())) {
            Weights branch = branch(f);
            layer = new LowRankConv(layer, new DenseConv(branch, "down", spec.in(), f.rank(), spec.kernel(), spec.stride(), spec.pads(), false),
                    new DenseLinear(branch, "up", f.rank(), spec.out(), false), f.scale());
            built.add(spec.path());
        }
        return layer;
    }

    private static Weights branch(Adapters.Factor f) {
        return new Weights(f.key(), Map.of("down.weight", f.down(), "up.weight", f.up()));
    }

    /** Checks, after the model was built, that every adapted layer was one the model built (a layer it never asks for would be silently unused). */
    public void checkAllBuilt(String component) {
        for (String path : factors.keySet()) {
            if (!built.contains(path)) {
                throw new IllegalStateException(component + " layer " + path + " has a LoRA but the model never builds it as a linear or conv layer");
            }
        }
    }
}
