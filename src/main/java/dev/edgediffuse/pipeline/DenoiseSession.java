package dev.edgediffuse.pipeline;

import dev.edgediffuse.scheduler.NoiseSource;
import dev.edgediffuse.scheduler.Scheduler;
import dev.edgediffuse.scheduler.SchedulerState;
import dev.edgediffuse.speedup.DeepCacheState;
import dev.edgediffuse.speedup.TokenMergeSettings;

import java.util.Arrays;
import java.util.Random;

/**
 * One request in flight through a {@link Denoiser}: its prompt embeddings, scheduler, latents, noise stream and the
 * time and work its steps took. Created by {@link Denoiser#start} or {@link Denoiser#resume}, advanced by
 * {@link Denoiser#step}, turned into an image by {@link Denoiser#finish}.
 */
public final class DenoiseSession {
    /** java.util.Random Gaussians, counted so another machine can fast-forward to the same point of the stream. */
    static final class Gaussian extends Random {
        private long drawn;

        Gaussian(long seed) {
            super(seed);
        }

        @Override
        public synchronized double nextGaussian() {
            drawn++;
            return super.nextGaussian();
        }

        float next() {
            return (float) nextGaussian();
        }

        void skip(long count) {
            for (long i = 0; i < count; i++) nextGaussian();
        }
    }

    final GenerateRequest request;
    /** The text encoder and UNet of the request's LoRA set: sessions of one variant share UNet calls. */
    final Denoiser.Variant variant;
    /** Prompt-embedding rows: 2 ([negative, prompt]) when guided by CFG, else 1. */
    private final int rows;
    final float[] context;
    final int contextTokens;
    final Scheduler scheduler;
    final int lc, lh, lw;
    private final Gaussian rng;
    /** What stochastic schedulers draw each step: the seeded stream, or a caller's replacement. */
    private final NoiseSource stepNoise;
    private final int firstStep;
    float[] latents;
    int nextStep;
    final Work work;
    /** This session's feature cache and schedule under DeepCache, else null. */
    final DeepCacheState deepCache;

    /** Seconds, MACs and allocated bytes of each stage; a batched UNet call is shared by its sessions' rows. */
    static final class Work {
        double loadSeconds, textSeconds, encodeSeconds, vaeSeconds;
        long textMacs, unetMacs, vaeMacs;
        final double[] stepSeconds;
        final long[] stepAllocated;

        Work(int steps) {
            stepSeconds = new double[steps];
            stepAllocated = new long[steps];
        }
    }

    DenoiseSession(GenerateRequest request, Denoiser.Variant variant, int rows, float[] context, int contextTokens, Scheduler scheduler,
                   float[] latents, int[] shape, Gaussian rng, NoiseSource stepNoise, int firstStep, Work work) {
        this.request = request;
        this.variant = variant;
        this.rows = rows;
        this.context = context;
        this.contextTokens = contextTokens;
        this.scheduler = scheduler;
        this.latents = latents;
        this.lc = shape[0];
        this.lh = shape[1];
        this.lw = shape[2];
        this.rng = rng;
        this.stepNoise = stepNoise != null ? stepNoise : (out, step) -> {
            for (int k = 0; k < out.length; k++) out[k] = rng.next();
        };
        this.firstStep = firstStep;
        this.nextStep = firstStep;
        this.work = work;
        this.deepCache = request.speedUps().deepCache() == null ? null : new DeepCacheState(request.speedUps().deepCache());
    }

    /**
     * What the next step's UNet call looks like: sessions with equal calls share one. {@code cacheSkips} is the
     * DeepCache cut (0: none), {@code reuse} whether the call runs only the shallow path on the stored feature.
     */
    record Call(TokenMergeSettings tokenMerge, int cacheSkips, boolean reuse) {}

    Call nextCall() {
        TokenMergeSettings tome = request.speedUps().tokenMerge();
        if (deepCache == null) return new Call(tome, 0, false);
        return new Call(tome, deepCache.shallowSkips(), deepCache.reuses(nextStep, stepRows()));
    }

    public GenerateRequest request() {
        return request;
    }

    /** Index of the next step to run (0-based); equals {@link #totalSteps()} when done. */
    public int nextStep() {
        return nextStep;
    }

    /** The step this session started at: 0, an img2img start, or where a resumed run was handed over. */
    public int firstStep() {
        return firstStep;
    }

    public int totalSteps() {
        return scheduler.numSteps();
    }

    public boolean done() {
        return nextStep >= scheduler.numSteps();
    }

    /** Prompt-embedding rows of this session: 2 with guidance ([uncond, cond]), else 1 (also for an LCM student). */
    public int rows() {
        return rows;
    }

    /** The timestep the next step passes to the UNet. */
    float nextTimestep() {
        return scheduler.timesteps()[nextStep];
    }

    /** UNet rows the next step takes: 1 (cond only) at a step outside the request's guidance interval. */
    int stepRows() {
        return rows == 2 && request.guidedAt(nextTimestep()) ? 2 : 1;
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

    /** How many Gaussian values the noise stream has given so far (initial noise, VAE sampling, per-step noise). */
    public long noiseDraws() {
        return rng.drawn;
    }

    public double textSeconds() {
        return work.textSeconds;
    }

    /** Seconds of the steps this session ran (not those run elsewhere before a resume). */
    public double[] stepSeconds() {
        return Arrays.copyOfRange(work.stepSeconds, firstStep, nextStep);
    }

    /** UNet multiply-adds of the steps run so far (this session's share of batched calls). */
    public long unetMacs() {
        return work.unetMacs;
    }

    /** Heap bytes allocated by each step run here (this session's share of batched calls). */
    public long[] stepAllocatedBytes() {
        return Arrays.copyOfRange(work.stepAllocated, firstStep, nextStep);
    }

    /** Applies the guided model output of the current step, with its share of the call's time and work. */
    void advance(float[] eps, double seconds, long allocated, long macs) {
        int i = nextStep;
        latents = scheduler.step(eps, i, latents, stepNoise);
        for (float v : latents) {
            if (!Float.isFinite(v)) throw new IllegalStateException("latents became NaN/infinite at step " + (i + 1));
        }
        work.stepSeconds[i] = seconds;
        work.stepAllocated[i] = allocated;
        work.unetMacs += macs;
        nextStep = i + 1;
    }
}
