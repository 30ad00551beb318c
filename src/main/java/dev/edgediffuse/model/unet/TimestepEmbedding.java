package dev.edgediffuse.model.unet;

import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;

/**
 * Sinusoidal features of a (possibly fractional) timestep followed by the Linear–SiLU–Linear MLP
 * (diffusers' Timesteps + TimestepEmbedding, weights time_embedding.linear_1/2).
 */
final class TimestepEmbedding {
    private final int features;
    private final boolean flipSinToCos;
    private final float freqShift;
    private final Linear linear1, linear2;
    /** cond_proj: an extra condition (LCM's guidance embedding) projected onto the sinusoids, or null. */
    private final Linear condProj;

    /** @param condDim time_cond_proj_dim, 0 when the UNet has none */
    TimestepEmbedding(Weights w, int features, int embeddingDim, boolean flipSinToCos, double freqShift, int condDim) {
        this.features = features;
        this.flipSinToCos = flipSinToCos;
        this.freqShift = (float) freqShift;
        this.linear1 = Linear.of(w, "linear_1", features, embeddingDim, true);
        this.linear2 = Linear.of(w, "linear_2", embeddingDim, embeddingDim, true);
        this.condProj = condDim > 0 ? Linear.of(w, "cond_proj", condDim, features, false) : null;
    }

    /** [batch][embeddingDim] for one timestep per batch item; {@code condition} [batch][condDim] or null. */
    float[] forward(float[] timesteps, float[] condition) {
        float[] s = sinusoids(timesteps);
        if (condition != null) s = Ops.add(s, condProj.forward(condition, timesteps.length));
        float[] h = Ops.silu(linear1.forward(s, timesteps.length));
        return linear2.forward(h, timesteps.length);
    }

    /** sin/cos of t·10000^(−k/(half−shift)), in float32 like the reference; cos first when flipped. */
    float[] sinusoids(float[] timesteps) {
        int half = features / 2;
        float[] out = new float[timesteps.length * features];
        float logPeriod = (float) -Math.log(10000);
        for (int k = 0; k < half; k++) {
            float freq = (float) Math.exp((logPeriod * k) / (half - freqShift));
            for (int b = 0; b < timesteps.length; b++) {
                float arg = timesteps[b] * freq;
                float sin = (float) Math.sin(arg), cos = (float) Math.cos(arg);
                int row = b * features;
                out[row + k] = flipSinToCos ? cos : sin;
                out[row + half + k] = flipSinToCos ? sin : cos;
            }
        }
        return out;
    }
}
