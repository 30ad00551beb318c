package dev.edgediffuse.speedup;

import dev.edgediffuse.model.unet.TokenMerge;
import dev.edgediffuse.tensor.Buffers;

/**
 * A measuring aid, not a speed-up: every self-attention of the blocks at most {@code maxDownsample} below the
 * latents' resolution sees its image's tokens averaged into one, so it costs next to nothing, and the time a UNet
 * step loses is what self-attention costs there (what token merging can save at most).
 */
public final class SelfAttentionProbe implements TokenMerge {
    private final int maxDownsample;

    public SelfAttentionProbe(int maxDownsample) {
        this.maxDownsample = maxDownsample;
    }

    @Override
    public Merge plan(float[] x, int batch, int h, int w, int channels, int level) {
        if (level > maxDownsample) return null;
        int tokens = h * w;
        return new Merge() {
            public int tokens() {
                return 1;
            }

            public float[] merge(float[] v, int c) {
                float[] out = Buffers.take(batch * c);
                java.util.Arrays.fill(out, 0f);
                for (int b = 0; b < batch; b++) {
                    for (int t = 0; t < tokens; t++) for (int k = 0; k < c; k++) out[b * c + k] += v[(b * tokens + t) * c + k];
                    for (int k = 0; k < c; k++) out[b * c + k] /= tokens;
                }
                return out;
            }

            public float[] unmerge(float[] y, int c) {
                float[] out = Buffers.take(batch * tokens * c);
                for (int b = 0; b < batch; b++) for (int t = 0; t < tokens; t++) System.arraycopy(y, b * c, out, (b * tokens + t) * c, c);
                return out;
            }
        };
    }

    @Override
    public boolean selfAttention() {
        return true;
    }

    @Override
    public boolean crossAttention() {
        return false;
    }

    @Override
    public boolean feedForward() {
        return false;
    }
}
