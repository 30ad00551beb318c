package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.scheduler.Scheduler;
import dev.edgediffuse.scheduler.SchedulerState;
import dev.edgediffuse.scheduler.Schedulers;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tokenizer.ClipTokenizer;


import java.nio.file.Path;
import java.util.List;

/**
 * The txt2img phases of {@link Pipeline#generate} one at a time, so that denoising can be split between machines
 * (hybrid) and several requests can share UNet calls (server batching): {@link #start} (text encoder, scheduler,
 * seeded latents) → {@link #step} for steps [from, to) → {@link #decode}. For the same request the result is bitwise
 * the one {@code Pipeline.generate} gives: same operations, same order, same noise stream.
 */
public final class Denoiser implements AutoCloseable {
    private final Checkpoint checkpoint;
    private final Checkpoint.Vae vaeOverride;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final ImageAutoencoder vae;

    private Denoiser(Checkpoint checkpoint, Checkpoint.Vae vaeOverride) {
        this.checkpoint = checkpoint;
        this.vaeOverride = vaeOverride;
        this.tokenizer = checkpoint.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(checkpoint.tokenizerDir);
        this.textEncoder = new ClipTextModel(checkpoint.textConfig, checkpoint.text);
        this.unet = new UNet2DConditionModel(checkpoint.unetConfig, checkpoint.unet);
        this.vae = vaeOverride != null ? vaeOverride.model() : ImageAutoencoder.create(checkpoint.vaeConfig, checkpoint.vae);
    }

    public static Denoiser load(Path path, Pipeline.Options options) {
        Checkpoint cp = Checkpoint.open(path, options.configDir());
        Checkpoint.Vae v = null;
        try {
            if (options.vaeDir() != null) v = Checkpoint.openVae(options.vaeDir());
            return new Denoiser(cp, v);
        } catch (RuntimeException e) {
            cp.close();
            if (v != null) v.close();
            throw e;
        }
    }

    public String modelName() {
        return checkpoint.name;
    }

    /** The sampling settings for requests that leave them out (the model's {@value SamplingDefaults#FILE}). */
    public SamplingDefaults samplingDefaults() {
        return checkpoint.samplingDefaults;
    }

    public int defaultImageSize() {
        return checkpoint.unetConfig.getInt("sample_size", 64) * vae.downscale(); // as diffusers: sample_size × VAE scale
    }

    public int contextDim() {
        return unet.crossAttentionDim();
    }

    /** How the UNet's latents relate to the model's own VAE (its config's map, whichever decoder is used). */
    public LatentScaling latentSpace() {
        return LatentScaling.ofVae(checkpoint.vaeConfig, checkpoint.vaeConfig.getInt("latent_channels", 4));
    }

    public int latentChannels() {
        return unet.inChannels();
    }

    /** Width and height must be multiples of this. */
    public int sizeMultiple() {
        return vae.downscale() * unet.sizeMultiple();
    }

    /** A scheduler of this model's configuration, or an IllegalArgumentException naming --scheduler. */
    public Scheduler scheduler(String name) {
        try {
            return Schedulers.create(name, checkpoint.schedulerConfig);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--scheduler: " + e.getMessage());
        }
    }

    /** Encodes [negative, prompt] (or [prompt] without guidance) as Pipeline does. */
    public float[] encodePrompt(GenerateRequest req) {
        int[][] ids = req.guided()
                ? new int[][]{tokenizer.encode(req.negativePrompt() == null ? "" : req.negativePrompt()), tokenizer.encode(req.prompt())}
                : new int[][]{tokenizer.encode(req.prompt())};
        return textEncoder.encode(ids);
    }

    /** Step 0 of a txt2img request: text encoded, scheduler set, latents = seeded (or given) noise × init sigma. */
    public DenoiseSession start(GenerateRequest req) {
        req.validate();
        if (req.initImage() != null) throw new IllegalArgumentException("img2img is not supported here (txt2img only)");
        long t = System.nanoTime();
        float[] context = encodePrompt(req);
        double textSeconds = (System.nanoTime() - t) / 1e9;
        Scheduler s = scheduler(req.scheduler());
        s.setTimesteps(req.steps());
        int[] shape = latentShape(req);
        int n = shape[0] * shape[1] * shape[2];
        DenoiseSession.Gaussian rng = new DenoiseSession.Gaussian(req.seed());
        float[] latents;
        if (req.initLatents() != null) {
            if (req.initLatents().length != n) {
                throw new IllegalArgumentException("--init-latents has " + req.initLatents().length + " values, expected shape [1, "
                        + shape[0] + ", " + shape[1] + ", " + shape[2] + "] for this size");
            }
            latents = FeatureMap.fromNchw(req.initLatents(), 1, shape[0], shape[1], shape[2]).data();
        } else {
            latents = new float[n];
            for (int i = 0; i < n; i++) latents[i] = rng.next();
        }
        float sigma = s.initNoiseSigma();
        for (int i = 0; i < n; i++) latents[i] *= sigma;
        return new DenoiseSession(req, context, ClipTokenizer.MAX_LENGTH, s, latents, shape, rng, textSeconds);
    }

    /**
     * Continues a run another machine started: the scheduler is rebuilt from this model's config and restored from
     * {@code state}; the noise stream is fast-forwarded past {@code noiseDraws} values; {@code context} (nullable)
     * replaces this model's own prompt embeddings.
     */
    public DenoiseSession resume(GenerateRequest req, SchedulerState state, float[] latentsChannelsLast, long noiseDraws,
                                 float[] context) {
        req.validate();
        if (!state.scheduler().equals(req.scheduler())) {
            throw new IllegalArgumentException("scheduler state is for " + state.scheduler() + ", request asks for " + req.scheduler());
        }
        if (state.numSteps() != req.steps()) {
            throw new IllegalArgumentException("scheduler state has " + state.numSteps() + " steps, request " + req.steps());
        }
        int[] shape = latentShape(req);
        if (latentsChannelsLast.length != shape[0] * shape[1] * shape[2]) {
            throw new IllegalArgumentException("latents have " + latentsChannelsLast.length + " values, expected "
                    + shape[0] * shape[1] * shape[2]);
        }
        int rows = req.guided() ? 2 : 1;
        long t = System.nanoTime();
        if (context == null) {
            context = encodePrompt(req);
        } else if (context.length != rows * ClipTokenizer.MAX_LENGTH * contextDim()) {
            throw new IllegalArgumentException("prompt embeddings have " + context.length + " values, this model needs "
                    + rows * ClipTokenizer.MAX_LENGTH * contextDim());
        }
        double textSeconds = (System.nanoTime() - t) / 1e9;
        Scheduler s = scheduler(req.scheduler());
        s.setTimesteps(req.steps());
        s.restore(state);
        DenoiseSession.Gaussian rng = new DenoiseSession.Gaussian(req.seed());
        rng.skip(noiseDraws);
        return new DenoiseSession(req, context, ClipTokenizer.MAX_LENGTH, s, latentsChannelsLast.clone(), shape, rng, textSeconds);
    }

    /** [channels, height, width] of the latents for this request's size; checks the size multiple. */
    public int[] latentShape(GenerateRequest req) {
        int m = sizeMultiple();
        if (req.width() % m != 0 || req.height() % m != 0) {
            throw new IllegalArgumentException("--width and --height must be multiples of " + m + " for this model, got "
                    + req.width() + "x" + req.height());
        }
        return new int[]{unet.inChannels(), req.height() / vae.downscale(), req.width() / vae.downscale()};
    }

    /**
     * One denoising step for every session, through one UNet call ([uncond, cond] rows of each session in order).
     * Sessions must share a latent size and not be done.
     */
    public void step(List<DenoiseSession> sessions) {
        if (sessions.isEmpty()) return;
        long t = System.nanoTime();
        DenoiseSession first = sessions.getFirst();
        int n = first.latentSize(), rows = 0, tokens = first.contextTokens;
        for (DenoiseSession s : sessions) {
            if (s.done()) throw new IllegalStateException("session already finished");
            if (s.latentSize() != n || s.lh != first.lh || s.contextTokens != tokens) {
                throw new IllegalArgumentException("sessions in one batch must share the latent size");
            }
            rows += s.stepRows();
        }
        int dim = contextDim();
        float[] in = new float[rows * n], ts = new float[rows], ctx = new float[rows * tokens * dim];
        int r = 0;
        for (DenoiseSession s : sessions) {
            float[] scaled = s.scheduler.scaleModelInput(s.latents, s.nextStep);
            float timestep = s.scheduler.timesteps()[s.nextStep];
            int skip = s.rows() - s.stepRows(); // an unguided step of a guided session: its cond row only
            System.arraycopy(s.context, skip * tokens * dim, ctx, r * tokens * dim, s.stepRows() * tokens * dim);
            for (int b = 0; b < s.stepRows(); b++, r++) {
                System.arraycopy(scaled, 0, in, r * n, n);
                ts[r] = timestep;
            }
        }
        float[] pred = unet.predict(new FeatureMap(in, rows, first.lh, first.lw, first.lc), ts, ctx, tokens).data();
        double seconds = (System.nanoTime() - t) / 1e9;
        r = 0;
        for (DenoiseSession s : sessions) {
            float[] eps = new float[n];
            float cfg = s.request.cfg();
            int base = r * n, stepRows = s.stepRows();
            if (stepRows == 2) {
                for (int i = 0; i < n; i++) eps[i] = pred[base + i] + cfg * (pred[base + n + i] - pred[base + i]);
            } else {
                System.arraycopy(pred, base, eps, 0, n);
            }
            r += stepRows;
            s.advance(eps, seconds);
        }
    }

    /** The VAE's round trip of images [n][h][w][c] in [-1, 1]: posterior mean, then decode. */
    public FeatureMap reconstruct(FeatureMap images) {
        return vae.decode(vae.encodeMean(images));
    }

    /** VAE decode of the session's current latents: the image, channels-last in [-1, 1]. */
    public FeatureMap decode(DenoiseSession s) {
        Buffers.clear(); // the UNet's reusable arrays are of no use to the VAE
        long t = System.nanoTime();
        FeatureMap image = vae.decode(new FeatureMap(s.latents.clone(), 1, s.lh, s.lw, s.lc));
        s.vaeSeconds = (System.nanoTime() - t) / 1e9;
        return image;
    }

    /** Decodes and packages the result as Pipeline.generate does. */
    public GenerateResult finish(DenoiseSession s) {
        FeatureMap image = decode(s);
        FeatureMap latentMap = new FeatureMap(s.latents.clone(), 1, s.lh, s.lw, s.lc);
        // MACs are not attributed per request here: batched sessions share their UNet calls
        var timings = new GenerateResult.Timings(0, s.textSeconds, s.stepSeconds(), s.vaeSeconds, 0, Memory.peakRss(), 0, 0, 0, new long[0]);
        return new GenerateResult(image, latentMap.toNchw(), new int[]{1, s.lc, s.lh, s.lw}, timings);
    }

    private boolean closed;

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        checkpoint.close();
        if (vaeOverride != null) vaeOverride.close();
    }
}
