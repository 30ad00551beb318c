package dev.edgediffuse.pipeline;

import dev.edgediffuse.tensor.FeatureMap;

/** The image (channels-last, [-1, 1]), the final latents (NCHW, as diffusers returns them) and where time went. */
public record GenerateResult(FeatureMap image, float[] latentsNchw, int[] latentShape, Timings timings) {
    /**
     * Seconds per stage; MACs (multiply-accumulates of the GEMM-based kernels) per stage; peak resident memory;
     * heap bytes allocated by each UNet step, all threads (empty where not measured).
     */
    public record Timings(double loadSeconds, double textSeconds, double[] unetStepSeconds, double vaeSeconds,
                          double encodeSeconds, long peakRssBytes, long textMacs, long unetMacs, long vaeMacs,
                          long[] unetStepAllocatedBytes) {
        public double unetSeconds() {
            double s = 0;
            for (double v : unetStepSeconds) s += v;
            return s;
        }

        public String summary() {
            StringBuilder b = new StringBuilder();
            b.append(String.format("load %.2f s | text encoder %.3f s", loadSeconds, textSeconds));
            if (encodeSeconds > 0) b.append(String.format(" | VAE encode %.2f s", encodeSeconds));
            int n = unetStepSeconds.length;
            b.append(String.format(" | UNet %d steps %.2f s (%.3f s/step", n, unetSeconds(), n == 0 ? 0 : unetSeconds() / n));
            b.append(String.format(") | VAE decode %.2f s | peak RSS %s", vaeSeconds, Memory.mib(peakRssBytes)));
            if (n > 0) {
                b.append("\nUNet step seconds:");
                for (double v : unetStepSeconds) b.append(String.format(" %.3f", v));
            }
            return b.toString();
        }
    }
}
