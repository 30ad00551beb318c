package dev.edgediffuse.tensor;

/** Element types a weight can be stored in. */
public enum DType {
    F32(4, "F32"), F16(2, "F16"), BF16(2, "BF16");

    public final int bytes;
    public final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    /** Returns the dtype for a safetensors dtype string, or null when this runtime cannot read it. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
        return null;
    }
}
