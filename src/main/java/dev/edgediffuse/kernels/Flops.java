package dev.edgediffuse.kernels;

import java.util.concurrent.atomic.LongAdder;

/**
 * Multiply-accumulates issued by the GEMM-based kernels (linear, convolution, attention matmuls), counted from the
 * operand shapes of each call — an analytic count, not a hardware counter. Norms and activations are not counted.
 */
public final class Flops {
    private static final LongAdder MACS = new LongAdder();

    private Flops() {}

    static void add(long macs) {
        MACS.add(macs);
    }

    public static long macs() {
        return MACS.sum();
    }
}
