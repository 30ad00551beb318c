package dev.edgediffuse.train;

import dev.edgediffuse.kernels.Parallel;

import java.util.ArrayList;
import java.util.List;

/** An exponential moving average of parameters, the weights a diffusion model ships with (smoother samples). */
public final class Ema {
    final Parameters shadow;
    private final float decay;
    private final boolean warmUp;
    private final List<Chunk> chunks;

    public Ema(Parameters params, double decay) {
        this(params, decay, true);
    }

    /**
     * @param warmUp cap the decay early on so the average is not dominated by the initial weights; a fine-tune of
     *               trained weights goes without: there the initial weights are the ones to average from
     */
    public Ema(Parameters params, double decay, boolean warmUp) {
        this.shadow = params.copy();
        this.decay = (float) decay;
        this.warmUp = warmUp;
        this.chunks = Chunk.split(shadow);
    }

    /** shadow ← decay·shadow + (1−decay)·params, the decay capped by the warm-up when there is one. */
    public void update(Parameters params, long step) {
        float d = warmUp ? Math.min(decay, decayCap(step)) : decay;
        List<String> names = shadow.names();
        List<float[]> s = shadow.arrays(), p = new ArrayList<>(names.size());
        for (String n : names) p.add(params.get(n));
        Parallel.forEach(chunks.size(), c -> {
            Chunk ch = chunks.get(c);
            float[] sa = s.get(ch.array()), pa = p.get(ch.array());
            for (int i = ch.from(); i < ch.to(); i++) sa[i] = d * sa[i] + (1 - d) * pa[i];
        });
    }

    /**
     * The warm-up's cap on the decay at a step (diffusers' rule), rising with the step: a decay above the cap at a
     * stage's last step acts as the warm-up alone for the whole stage.
     */
    static float decayCap(long step) {
        return (1f + step) / (10f + step);
    }

    public Parameters weights() {
        return shadow;
    }
}
