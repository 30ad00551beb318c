package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Residency;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The weight-format pass: each tensor in the format a {@link FormatPlan} decides (mixed precision per layer). The
 * plan is made up front; the values are converted when the result is read (written, or opened), one tensor at a time.
 */
public final class QuantizePass {
    private QuantizePass() {}

    /** Every component's tensors, rules seeing them as {@code component/name} (e.g. {@code unet/conv_in.weight}). */
    public static Checkpoint apply(Checkpoint cp, FormatPlan plan, Quantizer.Clip clip, Converter.Stats stats) {
        Checkpoint out = cp;
        for (Component c : cp.components()) {
            out = out.with(c.withTensors(apply(c.tensors(), c.kind() + "/", plan, clip, stats), c.source() + " (" + plan.target().formatName() + ")"));
        }
        return out;
    }

    /** The tensors of one file or component; rules see {@code prefix + name}. */
    public static Map<String, ModelTensor> apply(Map<String, ModelTensor> tensors, String prefix, FormatPlan plan,
                                                 Quantizer.Clip clip, Converter.Stats stats) {
        Map<String, ModelTensor> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            Weight src = t.get();
            FormatPlan.Decision d = plan.decide(prefix + name, src);
            if (stats != null) stats.count(d.format(), t.size(), d.reason());
            out.put(name, convert(t, d.format(), clip));
        });
        return out;
    }

    /** {@code t} in {@code format}: quantized, or as floats of another width; unchanged when it already is. */
    static ModelTensor convert(ModelTensor t, DType format, Quantizer.Clip clip) {
        if (format == t.dtype()) return t;
        return new ModelTensor(t.name(), format, t.shape(), () -> {
            Weight src = t.get();
            Weight w = format.quantized() ? Quantizer.quantize(src, format, clip) : floats(src, format);
            Residency.release(src.data());
            return w;
        });
    }

    /** A weight's values stored as {@code format} (F32, F16 or BF16) on the heap. */
    static Weight floats(Weight src, DType format) {
        float[] v = src.toFloats();
        MemorySegment seg = switch (format) {
            case F32 -> MemorySegment.ofArray(v);
            case F16, BF16 -> {
                short[] s = new short[v.length];
                for (int i = 0; i < v.length; i++) {
                    s[i] = format == DType.F16 ? Float.floatToFloat16(v[i]) : SafeTensorsWriter.toBf16(v[i]);
                }
                yield MemorySegment.ofArray(s);
            }
            default -> throw new IllegalArgumentException(format + " is not a float format");
        };
        return new Weight(src.name(), format, src.shape(), seg);
    }

}
