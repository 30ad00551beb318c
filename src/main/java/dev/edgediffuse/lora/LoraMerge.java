package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The merge pass: each adapted layer's weight becomes W + Σ scale·up·down, in f32 (the sum of f16 weights and small
 * deltas would round the deltas away again), computed when the tensor is read. Only float weights are merged: a
 * quantized weight would have to be requantized, which wipes out a small delta on a 4-bit base — such layers take
 * the run-time branch instead ({@link LoraPolicy}).
 */
public final class LoraMerge {
    private LoraMerge() {}

    /** {@code model} with every layer of {@code adapters} merged; all their base weights must be float. */
    public static Checkpoint apply(Checkpoint model, Adapters adapters) {
        Checkpoint out = model;
        for (Component c : List.of(model.unet, model.text)) {
            Map<String, List<Adapters.Factor>> layers = adapters.factors(c.kind());
            if (layers.isEmpty()) continue;
            Map<String, ModelTensor> tensors = new LinkedHashMap<>(c.tensors());
            layers.forEach((path, factors) -> {
                ModelTensor w = tensors.get(path + ".weight");
                if (w.dtype().quantized()) {
                    throw new IllegalArgumentException(path + " is " + w.dtype().formatName() + ": a LoRA is merged into float weights only");
                }
                tensors.put(w.name(), merged(w, factors));
            });
            out = out.with(c.withTensors(tensors, c.source() + " (+ LoRA merged)"));
        }
        return out;
    }

    /** W + Σ scale·up·down as an f32 tensor of W's shape. */
    static ModelTensor merged(ModelTensor base, List<Adapters.Factor> factors) {
        int[] shape = base.shape();
        return new ModelTensor(base.name(), DType.F32, shape, () -> {
            float[] w = base.get().toFloats();
            int out = shape[0], fan = w.length / out;
            double[] row = new double[fan];
            float[][] downs = new float[factors.size()][], ups = new float[factors.size()][];
            for (int f = 0; f < downs.length; f++) {
                downs[f] = factors.get(f).down().toFloats();
                ups[f] = factors.get(f).up().toFloats();
            }
            for (int o = 0; o < out; o++) {
                java.util.Arrays.fill(row, 0);
                for (int f = 0; f < downs.length; f++) {
                    int rank = factors.get(f).rank();
                    double scale = factors.get(f).scale();
                    for (int r = 0; r < rank; r++) {
                        double u = scale * ups[f][o * rank + r];
                        int d = r * fan;
                        for (int i = 0; i < fan; i++) row[i] += u * downs[f][d + i];
                    }
                }
                for (int i = 0; i < fan; i++) w[o * fan + i] = (float) (w[o * fan + i] + row[i]);
            }
            return new Weight(base.name(), DType.F32, shape, MemorySegment.ofArray(w));
        });
    }
}
