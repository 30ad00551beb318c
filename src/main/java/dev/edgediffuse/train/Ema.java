package dev.edgediffuse.train;

import dev.edgediffuse.kernels.Parallel;

import java.util.List;

/** An exponential moving average of parameters, the weights a diffusion model ships with (smoother samples). */
public final class Ema {
    final Parameters shadow;
    private final float decay;
    private final Chunks chunks;

    public Ema(Parameters params, double decay) {
        this.shadow = params.copy();
        this.decay = (float) decay;
        this.chunks = Chunks.of(shadow);
    }

    /** shadow ← decay·shadow + (1−decay)·params, with a warm-up so early steps are not dominated by the init. */
    public void update(Parameters params, long step) {
        float d = Math.min(decay, (1f + step) / (10f + step));
        List<String> names = shadow.names();
        Parallel.forEach(chunks.count(), c -> {
            String n = names.get(chunks.array(c));
            float[] s = shadow.get(n), p = params.get(n);
            for (int i = chunks.from(c), to = chunks.to(c); i < to; i++) s[i] = d * s[i] + (1 - d) * p[i];
        });
    }

    public Parameters weights() {
        return shadow;
    }
}
