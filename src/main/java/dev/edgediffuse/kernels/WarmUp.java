package dev.edgediffuse.kernels;

import dev.edgediffuse.tensor.Weight;

/**
 * Runs every kernel on small inputs in a background thread, so the JIT has compiled them by the time the model is
 * open (otherwise the first text-encoder pass and UNet step run interpreted code for a second or more).
 */
public final class WarmUp {
    private static volatile Thread running;

    private WarmUp() {}

    /** Starts the warm-up once per process; returns at once. */
    public static synchronized void start() {
        if (running != null) return;
        running = Thread.ofPlatform().daemon().name("edgediffuse-warmup").start(WarmUp::run);
    }

    /** Starts the warm-up if needed and waits for it: for measurements, whose own first calls must not shape the JIT's profile. */
    public static void startAndWait() {
        start();
        try {
            running.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void run() {
        Flops.stopCountingOnThisThread();
        float[] x = new float[64 * 96], w = new float[96 * 48], img = new float[2 * 8 * 8 * 32], cw = new float[32 * 32 * 9];
        java.util.Random r = new java.util.Random(0);
        for (float[] a : new float[][]{x, w, img, cw}) for (int i = 0; i < a.length; i++) a[i] = r.nextFloat() - 0.5f;
        WeightPanels linear = new WeightPanels(Weight.ofFloats("warmup", w, 48, 96));
        WeightPanels conv = new WeightPanels(Weight.ofFloats("warmup", cw, 32, 32, 3, 3));
        float[] y = new float[64 * 48], gamma = new float[32], beta = new float[32];
        java.util.Arrays.fill(gamma, 1f);
        WeightPanels partial = new WeightPanels(Weight.ofFloats("warmup", java.util.Arrays.copyOf(w, 40 * 96), 40, 96));
        WeightPanels conv20 = new WeightPanels(Weight.ofFloats("warmup", java.util.Arrays.copyOf(cw, 20 * 32 * 9), 20, 32, 3, 3));
        float[] bias = java.util.Arrays.copyOf(gamma, 40);
        float[][] affine = Norms.groupNormAffine(img, 2, 64, 32, 8, 1e-5f, gamma, beta);
        for (int it = 0; it < 300; it++) {
            for (int p = 0; p < linear.panels(); p++) linear.pack(p, new float[96 * Gemm.NR], 0);
            float[] packed = new float[linear.panels() * 96 * Gemm.NR];
            for (int p = 0; p < linear.panels(); p++) linear.pack(p, packed, p * 96 * Gemm.NR);
            Gemm.rows(x, 0, 96, 0, 64, packed, 96, 48, 0, linear.panels(), null, y, 0, 48);
            Conv2d.conv(img, 2, 8, 8, 32, conv, 3, 3, 1, new int[]{1, 1, 1, 1}, null);
            // every branch the real models take (bias, a partial last panel, partial row blocks, stride 2, the
            // prologues), so C2 compiles them from the start instead of recompiling the kernel mid-run
            Gemm.multiply(x, 0, 96, 61, partial, bias, y, 0, 40);
            Conv2d.conv(img, 2, 8, 8, 32, conv20, 3, 3, 2, new int[]{0, 1, 0, 1}, bias);
            Conv2d.conv(img, 2, 8, 8, 32, conv20, 3, 3, 1, new int[]{1, 1, 1, 1}, bias, Conv2d.Prologue.normalize(affine, true));
            Conv2d.conv(img, 2, 8, 8, 32, conv20, 3, 3, 1, new int[]{1, 1, 1, 1}, bias, Conv2d.Prologue.UPSAMPLE_2X);
            Attention.attend(x, x, x, 1, 64, 64, 2, 48, it % 2 == 0);
            Norms.groupNorm(img, 2, 64, 32, 8, 1e-5f, gamma, beta, true);
            Norms.layerNorm(img, 64, 32, 1e-5f, gamma, beta);
            Activations.geglu(img, 64, 16);
            Activations.quickGelu(x.clone());
            Activations.addInPlace(y, 40, gamma);
        }
    }
}
