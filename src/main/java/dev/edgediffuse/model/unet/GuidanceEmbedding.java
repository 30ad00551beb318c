package dev.edgediffuse.model.unet;

/**
 * The guidance-scale embedding an LCM student takes through {@code time_cond_proj_dim} (diffusers'
 * {@code get_guidance_scale_embedding}, after the VDM timestep embedding): for w scaled by 1000, sin(w·f_k) then
 * cos(w·f_k) with f_k = exp(−k·ln(10000)/(half − 1)), k < half = dim/2, zero-padded when dim is odd; float32 as the
 * reference computes it.
 */
public final class GuidanceEmbedding {
    private GuidanceEmbedding() {}

    /** [w.length][dim]. */
    public static float[] of(float[] w, int dim) {
        int half = dim / 2;
        float[] out = new float[w.length * dim];
        float step = (float) Math.log(10000.0) / (half - 1);
        for (int k = 0; k < half; k++) {
            float freq = (float) Math.exp(k * -step);
            for (int b = 0; b < w.length; b++) {
                float arg = (w[b] * 1000f) * freq;
                out[b * dim + k] = (float) Math.sin(arg);
                out[b * dim + half + k] = (float) Math.cos(arg);
            }
        }
        return out;
    }
}
