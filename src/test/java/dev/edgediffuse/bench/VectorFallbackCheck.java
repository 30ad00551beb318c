package dev.edgediffuse.bench;

import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.kernels.ActivationGrad;
import dev.edgediffuse.kernels.Activations;
import dev.edgediffuse.kernels.Attention;
import dev.edgediffuse.kernels.Conv2d;
import dev.edgediffuse.kernels.Gemm;
import dev.edgediffuse.kernels.Matmul;
import dev.edgediffuse.kernels.NormGrad;
import dev.edgediffuse.kernels.Norms;
import dev.edgediffuse.kernels.Optimizer;
import dev.edgediffuse.kernels.VectorWidth;
import dev.edgediffuse.kernels.WeightPanels;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Whether any kernel runs the Vector API's Java fallback: an operation the JIT cannot map onto the machine's
 * registers (a species wider than them), or a vector passed through a call C2 did not inline, allocates a vector
 * object for every operation, while intrinsified code allocates none. So: run every kernel until the JIT is done, then
 * sample the allocations (JFR, per new TLAB) of {@code jdk.incubator.vector} classes in three windows of 20 more runs.
 * Prints the counts and the least window's allocation sites; exits 1 unless some window has none (a fallback shows in
 * every window, a recompilation only in the one it falls into). Run it with tools/vector-fallback-check.sh, adding
 * -XX:MaxVectorSize=16 for NEON's width.
 */
public final class VectorFallbackCheck {
    private VectorFallbackCheck() {}

    public static void main(String[] args) throws Exception {
        Runnable kernels = kernels();
        Path file = Files.createTempFile("vector-fallback", ".jfr");
        Instant[] marks = new Instant[WINDOWS + 1];
        // recording from the start: JFR's own classes, loaded late, would make the JIT drop and redo compiled code
        try (Recording r = new Recording()) {
            r.enable("jdk.ObjectAllocationInNewTLAB").withStackTrace();
            r.enable("jdk.ObjectAllocationOutsideTLAB").withStackTrace();
            r.start();
            warmUp(kernels);
            for (int w = 0; w < WINDOWS; w++) {
                marks[w] = Instant.now();
                for (int i = 0; i < 20; i++) kernels.run();
            }
            marks[WINDOWS] = Instant.now();
            r.stop();
            r.dump(file);
        }
        List<Map<String, Integer>> windows = new ArrayList<>();
        for (int w = 0; w < WINDOWS; w++) windows.add(new TreeMap<>());
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            int w = 0;
            while (w < WINDOWS && !e.getStartTime().isBefore(marks[w + 1])) w++;
            String type = e.getClass("objectClass").getName();
            if (e.getStartTime().isBefore(marks[0]) || w == WINDOWS || !type.startsWith("jdk.incubator.vector.")) continue;
            String at = e.getStackTrace() == null ? "?" : e.getStackTrace().getFrames().stream()
                    .filter(f -> f.getMethod().getType().getName().startsWith("dev.edgediffuse.")).limit(3)
                    .map(f -> f.getMethod().getType().getName().replace("dev.edgediffuse.", "") + "::" + f.getMethod().getName()
                            + " (" + f.getType() + ")").collect(Collectors.joining(" < "));
            windows.get(w).merge(type + " from " + at, 1, Integer::sum);
        }
        Files.delete(file);
        Map<String, Integer> least = windows.stream().min(Comparator.comparingInt(VectorFallbackCheck::total)).orElseThrow();
        System.out.println(VectorWidth.describe() + "; JFR allocation samples of vector objects, per window of 20 runs of every kernel: "
                + windows.stream().map(m -> String.valueOf(total(m))).collect(Collectors.joining(", ")));
        least.forEach((k, v) -> System.out.println("  " + v + "  " + k));
        System.exit(least.isEmpty() ? 0 : 1);
    }

    private static final int WINDOWS = 3;

    /** Runs the kernels until the JIT has compiled nothing for 5 s (at least 20 s, at most 2 min: a busy host compiles slowly). */
    private static void warmUp(Runnable kernels) {
        var jit = java.lang.management.ManagementFactory.getCompilationMXBean();
        long start = System.nanoTime(), quietSince = start, compiled = jit.getTotalCompilationTime();
        while (System.nanoTime() - start < 120_000_000_000L) {
            kernels.run();
            long now = System.nanoTime(), c = jit.getTotalCompilationTime();
            if (c != compiled) {
                compiled = c;
                quietSince = now;
            } else if (now - quietSince > 5_000_000_000L && now - start > 20_000_000_000L) {
                return;
            }
        }
    }

    private static int total(Map<String, Integer> m) {
        return m.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** One run of every kernel at small SD-like shapes, tails included. */
    private static Runnable kernels() {
        Random r = new Random(1);
        int c = 320, hw = 256, cin = 36;
        float[] x = random(r, 2 * hw * c), dy = random(r, x.length), gamma = random(r, c), beta = random(r, c);
        float[] img = random(r, 2 * 16 * 16 * cin), imgGamma = random(r, cin), imgBeta = random(r, cin);
        float[] w = random(r, c * c);
        WeightPanels f32 = new WeightPanels(Weight.ofFloats("w", w, c, c));
        WeightPanels q8 = new WeightPanels(Quantizer.quantize(Weight.ofFloats("w", w, c, c), DType.Q8, Quantizer.Clip.ABSMAX));
        WeightPanels q4 = new WeightPanels(Quantizer.quantize(Weight.ofFloats("w", w, c, c), DType.Q4_32, Quantizer.Clip.ABSMAX));
        WeightPanels conv = new WeightPanels(Weight.ofFloats("w", random(r, 40 * cin * 9), 40, cin, 3, 3));
        float[] q = random(r, 2 * 77 * 80), kv = random(r, 2 * 90 * 80), out = new float[2 * hw * c];
        float[] params = random(r, 10_000), grads = random(r, 10_000), m = new float[10_000], v = new float[10_000];
        Optimizer.AdamWStep step = new Optimizer.AdamWStep(1f, 0.9f, 0.999f, 0.1, 0.001, 1e-8f, 1e-4, true, 1e-6f);
        return () -> {
            Gemm.multiply(x, 0, c, 2 * hw, f32, gamma, out, 0, c);
            Gemm.multiply(x, 0, c, 2 * hw, q8, null, out, 0, c);
            Gemm.multiply(x, 0, c, 2 * hw, q4, null, out, 0, c);
            float[][] affine = Norms.groupNormAffine(img, 2, 256, cin, 4, 1e-5f, imgGamma, imgBeta);
            Conv2d.conv(img, 2, 16, 16, cin, conv, 3, 3, 1, new int[]{1, 1, 1, 1}, null, Conv2d.Prologue.normalize(affine, true));
            Conv2d.conv(img, 2, 16, 16, cin, conv, 3, 3, 2, new int[]{0, 1, 0, 1}, null, Conv2d.Prologue.UPSAMPLE_2X);
            Norms.groupNorm(x, 2, hw, c, 32, 1e-5f, gamma, beta, true);
            Norms.layerNorm(x, 2 * hw, c, 1e-5f, gamma, beta);
            Attention.attend(q, kv, kv, 2, 77, 90, 2, 40, false);
            float[] y = x.clone();
            Activations.silu(y);
            Activations.gelu(y);
            Activations.addInPlace(y, dy);
            Activations.geglu(x, hw, c);
            ActivationGrad.silu(x, dy);
            ActivationGrad.gelu(x, dy);
            ActivationGrad.quickGelu(x, dy);
            ActivationGrad.geglu(x, dy, hw, c);
            NormGrad.groupNorm(x, dy, 2, hw, c, 32, 1e-5f, gamma, beta, true, true, new float[c], new float[c]);
            Matmul.tn(x, 2 * hw, c, dy, c);
            Optimizer.adamW(params, grads, m, v, 0, params.length, step);
            Optimizer.sumOfSquares(grads, 0);
        };
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
