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
import java.util.List;
import java.util.Map;

/**
 * The weight-format pass: each tensor in the format a {@link FormatPlan} decides (mixed precision per layer). The
 * plan is made up front; the values are converted when the result is read (written, or opened), one tensor at a time.
 * With a calibration, UNet weights can be rounded by GPTQ, and chosen linear layers stored as a 16-bit low-rank
 * branch plus a quantized residual ({@link LowRankQuant}: {@code <layer>.weight} in its format beside
 * {@code <layer>.lowrank_down.weight} and {@code <layer>.lowrank_up.weight}, which the runtime adds back).
 */
public final class QuantizePass {
    /**
     * How quantized values are found: clipping, rounding, the UNet's calibration (nullable; GPTQ and low rank use its
     * Hessians), and the low-rank branch's rank (0: none), the UNet layers it applies to (globs over unet/ names)
     * and its refinement iterations.
     */
    public record Methods(Quantizer.Clip clip, Rounding rounding, Calibration calibration, int lowRank, List<String> lowRankLayers,
                          int lowRankIterations) {
        public static Methods plain(Quantizer.Clip clip) {
            return new Methods(clip, Rounding.NEAREST, null, 0, List.of(), 0);
        }

        boolean lowRankFor(String unetName, int[] shape) {
            // linear weights [out][in] only: the runtime adds a stored branch to linear layers (a 1×1 convolution's would
            // be written and then ignored), and a rank reaching the weight's own would store more than it saves
            if (lowRank <= 0 || shape.length != 2 || lowRank >= Math.min(shape[0], shape[1]) || !unetName.endsWith(".weight")) return false;
            for (String g : lowRankLayers) if (FormatPlan.regex(g).matcher(unetName).matches()) return true;
            return false;
        }
    }

    private QuantizePass() {}

    /** Every component's tensors, rules seeing them as {@code component/name} (e.g. {@code unet/conv_in.weight}). */
    public static Checkpoint apply(Checkpoint cp, FormatPlan plan, Quantizer.Clip clip, Converter.Stats stats) {
        return apply(cp, plan, Methods.plain(clip), stats);
    }

    /** As {@link #apply(Checkpoint, FormatPlan, Quantizer.Clip, Converter.Stats)} with calibrated methods for the UNet. */
    public static Checkpoint apply(Checkpoint cp, FormatPlan plan, Methods methods, Converter.Stats stats) {
        Checkpoint out = cp;
        for (Component c : cp.components()) {
            Map<String, ModelTensor> t = c.kind().equals(Component.UNET) && (methods.calibration() != null || methods.lowRank() > 0)
                    ? unet(c.tensors(), plan, methods, stats) : apply(c.tensors(), c.kind() + "/", plan, methods.clip(), stats);
            out = out.with(c.withTensors(t, c.source() + " (" + plan.target().formatName() + ")"));
        }
        return out;
    }

    /** The UNet's tensors with GPTQ rounding and low-rank branches where the methods ask for them. */
    private static Map<String, ModelTensor> unet(Map<String, ModelTensor> tensors, FormatPlan plan, Methods m, Converter.Stats stats) {
        Map<String, ModelTensor> out = new LinkedHashMap<>();
        int[] branches = {0};
        tensors.forEach((name, t) -> {
            Weight src = t.get();
            FormatPlan.Decision d = plan.decide("unet/" + name, src);
            DType f = d.format();
            String layer = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
            Calibration.Layer calib = m.calibration() == null || layer == null ? null : m.calibration().layer(layer);
            if (f.quantized() && m.lowRankFor("unet/" + name, t.shape())) {
                lowRank(out, t, f, d.reason(), m, calib, stats);
                branches[0]++;
                return;
            }
            if (stats != null) stats.count(f, t.size(), d.reason());
            if (!f.quantized() || m.rounding() == Rounding.NEAREST || calib == null) {
                out.put(name, convert(t, f, m.clip()));
            } else {
                out.put(name, new ModelTensor(t.name(), f, t.shape(), () -> {
                    Weight w = m.rounding().apply(t.get(), f, m.clip(), calib);
                    Residency.release(src.data());
                    return w;
                }));
            }
        });
        if (m.lowRank() > 0 && branches[0] == 0) {
            throw new IllegalArgumentException("--lowrank-layers " + String.join(",", m.lowRankLayers()) + " names no quantized linear UNet "
                    + "layer whose sides exceed rank " + m.lowRank());
        }
        return out;
    }

    /** The residual under the layer's name and the two branch tensors after it, computed once when the first is read. */
    private static void lowRank(Map<String, ModelTensor> out, ModelTensor t, DType f, String reason, Methods m, Calibration.Layer calib,
                                Converter.Stats stats) {
        int n = t.shape()[0], k = (int) (t.size() / n), r = m.lowRank();
        LowRankQuant.Result[] held = new LowRankQuant.Result[1];
        int[] reads = {0};
        java.util.function.Supplier<LowRankQuant.Result> result = () -> {
            if (held[0] == null) held[0] = LowRankQuant.apply(t.get(), f, m.clip(), m.rounding(), calib, r, m.lowRankIterations());
            LowRankQuant.Result res = held[0];
            if (++reads[0] % 3 == 0) held[0] = null; // all three read: drop it
            if (stats != null && reads[0] == 1) stats.lowRank(t.name(), res);
            return res;
        };
        out.put(t.name(), new ModelTensor(t.name(), f, t.shape(), () -> result.get().residual()));
        out.put(LowRankQuant.downName(t.name()), new ModelTensor(LowRankQuant.downName(t.name()), DType.F16, new int[]{r, k},
                () -> floats(Weight.ofFloats(LowRankQuant.downName(t.name()), result.get().down(), r, k), DType.F16)));
        out.put(LowRankQuant.upName(t.name()), new ModelTensor(LowRankQuant.upName(t.name()), DType.F16, new int[]{n, r},
                () -> floats(Weight.ofFloats(LowRankQuant.upName(t.name()), result.get().up(), n, r), DType.F16)));
        if (stats != null) {
            stats.count(f, t.size(), reason);
            stats.count(DType.F16, (long) r * k, "low-rank branch");
            stats.count(DType.F16, (long) n * r, "low-rank branch");
        }
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
