package dev.edgediffuse.train;

import dev.edgediffuse.kernels.Parallel;

import java.util.ArrayList;
import java.util.List;

/** An exponential moving average of parameters, the weights a diffusion model ships with (smoother samples). */
public final class Ema {
    final Parameters shadow;
    private final float decay;
    private final List<Chunk> chunks;

    public Ema(Parameters params, double decay) {
        this.shadow = params.copy();
        this.decay = (float) decay;
        this.chunks = Chunk.split(shadow);
    }

    /** shadow ← decay·shadow + (1−decay)·params, with a warm-up so early steps are not dominated by the init. */
    public void update(Parameters params, long step) {
        float d = Math.min(decay, decayCap(step));
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
