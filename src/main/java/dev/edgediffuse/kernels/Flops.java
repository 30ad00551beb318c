package dev.edgediffuse.kernels;

import java.util.concurrent.atomic.LongAdder;

/**
 * Multiply-accumulates issued by the GEMM-based kernels (linear, convolution, attention matmuls), counted from the
 * operand shapes of each call — an analytic count, not a hardware counter. Norms and activations are not counted.
 */
public final class Flops {
    private static final LongAdder MACS = new LongAdder();
    /** Set on the warm-up thread, whose kernel calls run alongside a measured stage and must not count in it. */
    private static final ThreadLocal<Boolean> UNCOUNTED = ThreadLocal.withInitial(() -> false);

    private Flops() {}

    static void add(long macs) {
        if (!UNCOUNTED.get()) MACS.add(macs);
    }

    static void stopCountingOnThisThread() {
        UNCOUNTED.set(true);
    }

    public static long macs() {
        return MACS.sum();
    }
}
