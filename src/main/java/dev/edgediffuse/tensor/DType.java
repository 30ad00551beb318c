package dev.edgediffuse.tensor;

import java.util.Locale;

/**
 * Storage formats a weight can be kept in: plain floats (F32, F16, BF16) and block-quantized integers. A quantized
 * weight [N][K...] has K = the product of the trailing dimensions, cut into groups of {@link #group} elements along K
 * (or one group per output row when group is 0), each group with one scale and, for the Z formats, a zero point:
 * value = (code − zero) · scale. See {@link QuantLayout} for the byte layout.
 */
public enum DType {
    F32(4, "F32", 32, 0, false),
    F16(2, "F16", 16, 0, false),
    BF16(2, "BF16", 16, 0, false),
    /** int8, symmetric, one f32 scale per output channel. */
    Q8(0, null, 8, 0, false),
    /** int8, symmetric, one f16 scale per 32 elements along K. */
    Q8_32(0, null, 8, 32, false),
    /** 4-bit, symmetric (codes −7..7 stored as code + 8), one f16 scale per 32 elements. */
    Q4_32(0, null, 4, 32, false),
    Q4_64(0, null, 4, 64, false),
    /** 4-bit, asymmetric: codes 0..15, an f16 scale and a 4-bit zero point (one byte) per 32 elements. */
    Q4_32Z(0, null, 4, 32, true),
    Q4_64Z(0, null, 4, 64, true);

    /** Bytes per element for the float types; 0 for quantized types (see {@link QuantLayout}). */
    public final int bytes;
    /** The safetensors dtype of a float type; null for quantized types, which are stored as several tensors. */
    public final String safetensorsName;
    public final int bits;
    /** Elements per scale along K; 0 = one scale per output row (per channel). Quantized types only. */
    public final int group;
    public final boolean zeroPoint;

    DType(int bytes, String safetensorsName, int bits, int group, boolean zeroPoint) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
        this.bits = bits;
        this.group = group;
        this.zeroPoint = zeroPoint;
    }

    public boolean quantized() {
        return safetensorsName == null;
    }

    /** The CLI / metadata name: f32, f16, bf16, q8, q8_32, q4_32, q4_64, q4_32z, q4_64z. */
    public String formatName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The type named {@code name} as {@link #formatName()} spells it, or null. */
    public static DType fromFormatName(String name) {
        for (DType d : values()) if (d.formatName().equals(name)) return d;
        return null;
    }

    /** Returns the dtype for a safetensors dtype string, or null when this runtime cannot read it as floats. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (name.equals(d.safetensorsName)) return d;
        return null;
    }
}
