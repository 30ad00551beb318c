package dev.edgediffuse.compress;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** How a weight's values become codes: each to the nearest step, or GPTQ's error compensation over the columns. */
public enum Rounding {
    NEAREST, GPTQ;

    public static Rounding parse(String s) {
        return switch (s) {
            case "nearest" -> NEAREST;
            case "gptq" -> GPTQ;
            default -> throw new IllegalArgumentException("--rounding must be nearest or gptq, got '" + s + "'");
        };
    }

    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * {@code w} quantized to {@code type}; GPTQ needs the layer's calibration (its K must match the weight's), and
     * falls back to nearest rounding where there is none (a layer the calibration never reached).
     */
    public Weight apply(Weight w, DType type, Quantizer.Clip clip, Calibration.Layer layer) {
        if (this == NEAREST || layer == null) return Quantizer.quantize(w, type, clip);
        return new Weight(w.name(), type, w.shape().clone(), MemorySegment.ofArray(gptq(w.toFloats(), w.shape(), type, clip, layer)));
    }

    /** GPTQ storage bytes of values {@code v} of {@code shape}, with the layer's Hessian blocks. */
    static byte[] gptq(float[] v, int[] shape, DType type, Quantizer.Clip clip, Calibration.Layer layer) {
        long k = 1;
        for (int d = 1; d < shape.length; d++) k *= shape[d];
        if (k != layer.k) {
            throw new IllegalArgumentException(layer.path + ": calibration has K = " + layer.k + ", the weight " + java.util.Arrays.toString(shape));
        }
        List<Gptq.HessianBlock> blocks = new ArrayList<>();
        for (int b = 0; b < layer.blocks(); b++) blocks.add(new Gptq.HessianBlock(layer.blockStart(b), layer.blockLength(b), layer.hessianBlock(b)));
        return Gptq.quantize(v, shape, type, clip, blocks, Gptq.DAMP);
    }
}
