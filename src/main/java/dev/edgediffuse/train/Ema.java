package dev.edgediffuse.train;

/** An exponential moving average of parameters, the weights a diffusion model ships with (smoother samples). */
public final class Ema {
    final Parameters shadow;
    private final float decay;

    public Ema(Parameters params, double decay) {
        this.shadow = params.copy();
        this.decay = (float) decay;
    }

    /** shadow ← decay·shadow + (1−decay)·params, with a warm-up so early steps are not dominated by the init. */
    public void update(Parameters params, long step) {
        float d = Math.min(decay, (1f + step) / (10f + step));
        for (String n : params.names()) {
            float[] s = shadow.get(n), p = params.get(n);
            for (int i = 0; i < s.length; i++) s[i] = d * s[i] + (1 - d) * p[i];
        }
    }

    public Parameters weights() {
        return shadow;
    }
}
