package dev.edgediffuse.pipeline;

import dev.edgediffuse.scheduler.Scheduler;
import dev.edgediffuse.scheduler.SchedulerState;

import java.util.Arrays;
import java.util.Random;

/** One request in flight through a {@link Denoiser}: its prompt embeddings, scheduler, latents and noise stream. */
public final class DenoiseSession {
    /** java.util.Random Gaussians, counted so another machine can fast-forward to the same point of the stream. */
    static final class Gaussian {
        private final Random random;
        private long drawn;

        Gaussian(long seed) {
            random = new Random(seed);
        }

        float next() {
            drawn++;
            return (float) random.nextGaussian();
        }

        void skip(long count) {
            for (long i = 0; i < count; i++) next();
        }
    }

    final GenerateRequest request;
    final float[] context;
    final int contextTokens;
    final Scheduler scheduler;
    final int lc, lh, lw;
    final double textSeconds;
    private final Gaussian rng;
    private final double[] stepSeconds;
    private final int firstStep;
    float[] latents;
    int nextStep;
    double vaeSeconds;

    DenoiseSession(GenerateRequest request, float[] context, int contextTokens, Scheduler scheduler, float[] latents,
                   int[] shape, Gaussian rng, double textSeconds) {
        this.request = request;
        this.context = context;
        this.contextTokens = contextTokens;
        this.scheduler = scheduler;
        this.latents = latents;
        this.lc = shape[0];
        this.lh = shape[1];
        this.lw = shape[2];
        this.rng = rng;
        this.textSeconds = textSeconds;
        this.nextStep = scheduler.state().nextStep();
        this.firstStep = nextStep;
        this.stepSeconds = new double[scheduler.numSteps()];
    }

    public GenerateRequest request() {
        return request;
    }

    /** Index of the next step to run (0-based); equals {@link #totalSteps()} when done. */
    public int nextStep() {
        return nextStep;
    }

    public int totalSteps() {
        return scheduler.numSteps();
    }

    public boolean done() {
        return nextStep >= scheduler.numSteps();
    }

    /** Prompt-embedding rows of this session: 2 with guidance ([uncond, cond]), else 1. */
    public int rows() {
        return request.guided() ? 2 : 1;
    }

    /** UNet rows the next step takes: 1 (cond only) at a step outside the request's guidance interval. */
    int stepRows() {
        return request.guidedAt(scheduler.timesteps()[nextStep]) ? 2 : 1;
    }

    int latentSize() {
        return lc * lh * lw;
    }

    /** [channels, height, width]. */
    public int[] latentShape() {
        return new int[]{lc, lh, lw};
    }

    /** Same latent size (and so batchable with). */
    public boolean sameSize(DenoiseSession o) {
        return lc == o.lc && lh == o.lh && lw == o.lw && contextTokens == o.contextTokens;
    }

    /** A copy of the current latents, channels-last [h][w][c]. */
    public float[] latents() {
        return latents.clone();
    }

    /** A copy of the prompt embeddings, [rows][tokens][dim]. */
    public float[] context() {
        return context.clone();
    }

    public int contextTokens() {
        return contextTokens;
    }

    public SchedulerState schedulerState() {
        return scheduler.state();
    }

    /** How many Gaussian values the noise stream has given so far (initial noise plus per-step noise). */
    public long noiseDraws() {
        return rng.drawn;
    }

    public double textSeconds() {
        return textSeconds;
    }

    /** Seconds of the steps this session ran (not those run elsewhere before a resume). */
    public double[] stepSeconds() {
        return Arrays.copyOfRange(stepSeconds, firstStep, nextStep);
    }

    void advance(float[] eps, double seconds) {
        int i = nextStep;
        latents = scheduler.step(eps, i, latents, (out, step) -> {
            for (int k = 0; k < out.length; k++) out[k] = rng.next();
        });
        for (float v : latents) {
            if (!Float.isFinite(v)) throw new IllegalStateException("latents became NaN/infinite at step " + (i + 1));
        }
        stepSeconds[i] = seconds;
        nextStep = i + 1;
    }
}
