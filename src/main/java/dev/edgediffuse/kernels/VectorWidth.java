package dev.edgediffuse.kernels;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector width of every kernel, chosen once per process: the machine's preferred width (ARM NEON 128 bits, AVX2
 * 256, AVX-512 512; the JVM caps it with {@code -XX:MaxVectorSize}), or a narrower one forced with
 * {@code -Dedgediffuse.vectorBits=128|256|512}. A species wider than the registers is emulated by the Vector API in
 * plain Java, ten times slower, so a forced width the machine lacks falls back to its own with one line on stderr.
 *
 * <p>Only the GEMM micro-kernel uses the full width, where more registers buy larger tiles. Element-wise kernels and
 * reductions work in blocks of 8 floats, one 256-bit vector or two 128-bit ones (256 bits on AVX-512 too: they are
 * memory-bound), so their sums and tails fall exactly as on the 256-bit build and every width gives the same bits.
 */
public final class VectorWidth {
    public static final String PROPERTY = "edgediffuse.vectorBits";
    /** Floats per block of the element-wise kernels: the lanes of the 256-bit build, whose partial sums they keep. */
    static final int BLOCK = 8;
    private static final int BITS = choose(System.getProperty(PROPERTY), VectorShape.preferredShape().vectorBitSize(), System.err);
    /** The GEMM micro-kernel's species: the full width. */
    static final VectorSpecies<Float> FLOAT = FloatVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(BITS));
    /** The element-wise kernels' species: a {@link #BLOCK} of floats in one or two vectors. */
    public static final VectorSpecies<Float> BLOCK_FLOAT = FloatVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Math.min(BITS, 256)));
    /** Doubles as wide as {@link #BLOCK_FLOAT} (the optimizer's double-precision step). */
    static final VectorSpecies<Double> BLOCK_DOUBLE = DoubleVector.SPECIES_PREFERRED.withShape(BLOCK_FLOAT.vectorShape());

    private VectorWidth() {}

    /** The width in use, in bits. */
    public static int bits() {
        return BITS;
    }

    /** For the logs and bench: the width in use and the machine's own. */
    public static String describe() {
        int machine = VectorShape.preferredShape().vectorBitSize();
        return BITS + "-bit vectors (machine: " + machine + "; GEMM tile " + Gemm.MR + "x" + Gemm.NR + ")";
    }

    /** The end of the whole 8-float blocks of [from, to): elements past it take the kernels' scalar tails. */
    static int blockEnd(int from, int to) {
        return from + (to - from) / BLOCK * BLOCK;
    }

    /**
     * The width to use: the machine's preferred, or a forced one no wider; 128 at least (the kernels' narrowest
     * shape; a JVM capped below it runs that shape emulated). Anything unusable is reported as one line on {@code log}.
     */
    static int choose(String forced, int machine, java.io.PrintStream log) {
        int usable = Math.min(512, machine);
        if (usable < 128) {
            log.println("edgediffuse: the JVM offers " + machine + "-bit vectors; the kernels need 128 and run emulated (slow)");
            return 128;
        }
        if (forced == null || forced.isBlank()) return usable;
        int bits = switch (forced.trim()) {
            case "128" -> 128;
            case "256" -> 256;
            case "512" -> 512;
            default -> -1;
        };
        if (bits < 0) {
            log.println("edgediffuse: -D" + PROPERTY + "=" + forced + " is not 128, 256 or 512; using the machine's " + usable + " bits");
            return usable;
        }
        if (bits > usable) {
            log.println("edgediffuse: -D" + PROPERTY + "=" + bits + " is wider than this machine's " + machine
                    + "-bit vectors; using " + usable);
            return usable;
        }
        return bits;
    }
}
