package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.kernels.Flops;
import dev.edgediffuse.lora.Adapters;
import dev.edgediffuse.lora.LoraLibrary;
import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.FeatureCache;
import dev.edgediffuse.model.unet.GuidanceEmbedding;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.model.vae.TinyAutoencoder;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.scheduler.LcmScheduler;
import dev.edgediffuse.scheduler.NoiseSource;
import dev.edgediffuse.scheduler.Scheduler;
import dev.edgediffuse.scheduler.SchedulerState;
import dev.edgediffuse.scheduler.Schedulers;
import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.TokenMerging;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one denoising loop, in phases: {@link #start} (prompt encoding, scheduler, seeded or given latents, img2img
 * encoding) → {@link #step} for any number of sessions at once (one UNet call, classifier-free guidance, the
 * scheduler's step, a finite check) → {@link #finish} (VAE decode and timings). {@link Pipeline#generate}, batches,
 * the server's batcher and hybrid runs all drive it, so a request gives the same bits whichever way it runs.
 * Same semantics as diffusers' StableDiffusionPipeline / Img2ImgPipeline.
 */
public final class Denoiser implements AutoCloseable {
    /** Low-memory decode above 256 px: 288-pixel tiles overlapping by 64 (2×2 tiles at 512², 1.27× the work). */
    private static final AutoencoderKL.Tiling LOW_MEMORY_TILING = new AutoencoderKL.Tiling(32, 36, 8);

    /**
     * Replaces a run's seeded random draws, to replay a reference run (e.g. diffusers with a torch generator):
     * {@code stepNoise} fills the per-step noise of stochastic schedulers (Euler ancestral, LCM) in NCHW order
     * [1][c][h][w] as torch lays it out, for the scheduler's step index; {@code posteriorMean} makes img2img encode
     * with the VAE posterior mean instead of a sample (diffusers' {@code sample_mode="argmax"}). A null
     * {@code stepNoise} keeps the seeded stream.
     */
    public record Noise(NoiseSource stepNoise, boolean posteriorMean) {
        public static final Noise SEEDED = new Noise(null, false);
    }

    /** How each component's layers are built (the layer seam): plain, or with a pass's branches and observers. */
    public record Layers(LayerPolicy unet, LayerPolicy text) {
        public static final Layers DENSE = new Layers(LayerPolicy.DENSE, LayerPolicy.DENSE);
    }

    /**
     * The text encoder and UNet of one LoRA set (the model's own, with any --lora, when the prompt names none). A
     * UNet with a timestep condition (an LCM student) takes the request's guidance as an embedding instead of CFG rows.
     */
    record Variant(String key, ClipTextModel text, UNet2DConditionModel unet) {
        boolean embedsGuidance() {
            return unet.timeCondDim() > 0;
        }
    }

    /** LoRA sets kept built beside the base one (least recently used goes first). */
    private static final int VARIANTS_KEPT = 4;

    private final Checkpoint checkpoint;
    private final ClipTokenizer tokenizer;
    private final Layers layers;
    private final LoraLibrary loras;
    private final Variant base;
    private final Map<String, Variant> variants = new LinkedHashMap<>(8, 0.75f, true);
    private final UNet2DConditionModel unet;
    private final ImageAutoencoder vae;
    /** What encodes images (img2img, eval's round trip): the VAE, or the model's own when a replacement only decodes. */
    private final ImageAutoencoder encoder;
    private final double loadSeconds;
    /** Whether closing this closes the checkpoint's files (it opened them). */
    private final boolean ownsCheckpoint;
    private boolean closed;

    private Denoiser(Checkpoint checkpoint, boolean ownsCheckpoint, boolean lowMemory, Layers layers, LoraLibrary loras,
                     long loadStartNanos) {
        this.checkpoint = checkpoint;
        this.ownsCheckpoint = ownsCheckpoint;
        this.tokenizer = checkpoint.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(checkpoint.tokenizerDir);
        this.layers = layers;
        this.loras = loras;
        this.base = build(loras.defaults());
        this.unet = base.unet;
        Component vaeComponent = checkpoint.vaeOverride != null ? checkpoint.vaeOverride : checkpoint.vae;
        this.vae = ImageAutoencoder.create(vaeComponent.config(), vaeComponent.weights());
        // a decoder-only replacement (a tiny decoder distilled on this latent space) leaves encoding to the model's VAE
        this.encoder = vae instanceof TinyAutoencoder t && !t.canEncode() && checkpoint.vaeOverride != null
                ? ImageAutoencoder.create(checkpoint.vae.config(), checkpoint.vae.weights()) : vae;
        if (lowMemory && vae instanceof AutoencoderKL kl) kl.setTiling(LOW_MEMORY_TILING);
        this.loadSeconds = (System.nanoTime() - loadStartNanos) / 1e9;
    }

    /** Opens a diffusers folder or single file, with a replacement VAE folder when the options name one. */
    public static Denoiser load(Path path, Pipeline.Options options) {
        return load(path, options, Layers.DENSE);
    }

    /** As {@link #load(Path, Pipeline.Options)}, the layers built by {@code layers} (e.g. simulated 8-bit activations). */
    public static Denoiser load(Path path, Pipeline.Options options, Layers layers) {
        long t0 = System.nanoTime();
        Checkpoint cp = Checkpoint.open(path, options.configDir());
        LoraLibrary loras = null;
        try {
            if (options.vaeDir() != null) cp = cp.withVaeFolder(options.vaeDir());
            loras = options.loras().open();
            return new Denoiser(cp, true, options.lowMemory(), layers, loras, t0);
        } catch (RuntimeException e) {
            if (loras != null) loras.close();
            cp.close();
            throw e;
        }
    }

    /**
     * A denoiser over a model in memory (no round trip through disk), its layers built by {@code layers}. The caller
     * keeps the checkpoint (and closes it after this denoiser is done).
     */
    public static Denoiser open(Checkpoint checkpoint, boolean lowMemory, Layers layers) {
        return new Denoiser(checkpoint, false, lowMemory, layers, LoraLibrary.NONE, System.nanoTime());
    }

    /** As {@link #open(Checkpoint, boolean, Layers)}, with LoRAs; the denoiser closes {@code loras}. */
    public static Denoiser open(Checkpoint checkpoint, boolean lowMemory, Layers layers, LoraLibrary loras) {
        return new Denoiser(checkpoint, false, lowMemory, layers, loras, System.nanoTime());
    }

    /** The text encoder and UNet of a LoRA set: bound to this model, merged or branched as the library's mode says. */
    private Variant build(LoraLibrary.Selection set) {
        if (set.isEmpty()) {
            return new Variant(set.key(), new ClipTextModel(checkpoint.text.config(), checkpoint.text.weights().withPolicy(layers.text())),
                    new UNet2DConditionModel(checkpoint.unet.config(), checkpoint.unet.weights().withPolicy(layers.unet())));
        }
        Adapters adapters = Adapters.bind(checkpoint, loras.uses(set), tokenizer);
        LoraMode.Applied a = loras.mode().apply(checkpoint, adapters, layers.unet(), layers.text());
        Variant v = new Variant(set.key(), new ClipTextModel(a.checkpoint().text.config(), a.checkpoint().text.weights().withPolicy(a.text())),
                new UNet2DConditionModel(a.checkpoint().unet.config(), a.checkpoint().unet.weights().withPolicy(a.unet())));
        a.checkAllBuilt();
        return v;
    }

    /** The variant of a prompt's LoRA set, built on first use and kept while it is among the last few used. */
    private synchronized Variant variant(LoraLibrary.Selection set) {
        if (set.key().equals(base.key)) return base;
        Variant v = variants.get(set.key());
        if (v == null) {
            v = build(set);
            variants.put(set.key(), v);
            if (variants.size() > VARIANTS_KEPT) variants.remove(variants.keySet().iterator().next());
        }
        return v;
    }

    /** Prefetches the weight files (model open → first step without page-fault stalls). */
    void prefetch() {
        checkpoint.prefetch();
    }

    public String modelName() {
        return checkpoint.name;
    }

    /** The sampling settings for requests that leave them out (the model's {@value SamplingDefaults#FILE}). */
    public SamplingDefaults samplingDefaults() {
        return checkpoint.samplingDefaults;
    }

    /** The UNet's native image size in pixels (sample_size × the VAE's scale, as diffusers). */
    public int defaultImageSize() {
        return checkpoint.unet.config().getInt("sample_size", 64) * vae.downscale();
    }

    /** The UNet, for callers that time or probe its calls directly (bench). */
    public UNet2DConditionModel unet() {
        return unet;
    }

    public int contextDim() {
        return unet.crossAttentionDim();
    }

    /** How the UNet's latents relate to the model's own VAE (its config's map, whichever decoder is used). */
    public LatentScaling latentSpace() {
        return LatentScaling.ofVae(checkpoint.vae.config(), checkpoint.vae.config().getInt("latent_channels", 4));
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

    /**
     * Encodes [negative, prompt] (or [prompt] without guidance, or for an LCM student): the rows a session's UNet calls
     * attend to, with the text encoder of the prompt's LoRA set and its {@code <lora:…>} tags cut out.
     */
    public float[] encodePrompt(GenerateRequest req) {
        LoraLibrary.Selection set = loras.select(req.prompt());
        return encodePrompt(req, set.prompt(), variant(set));
    }

    private float[] encodePrompt(GenerateRequest req, String prompt, Variant v) {
        int[][] ids = contextRows(req, v) == 2
                ? new int[][]{tokenizer.encode(req.negativePrompt() == null ? "" : req.negativePrompt()), tokenizer.encode(prompt)}
                : new int[][]{tokenizer.encode(prompt)};
        return v.text.encode(ids);
    }

    /** Prompt rows a request needs with this variant: guidance by CFG needs the negative prompt's row too. */
    private static int contextRows(GenerateRequest req, Variant v) {
        return req.guided() && !v.embedsGuidance() ? 2 : 1;
    }

    public DenoiseSession start(GenerateRequest req) {
        return start(req, Noise.SEEDED);
    }

    /**
     * Step 0 of a request: the prompt encoded; txt2img latents = seeded (or given) noise × the initial sigma; img2img
     * latents = the encoded image noised to the strength's first step.
     */
    public DenoiseSession start(GenerateRequest req, Noise overrides) {
        req.validate();
        checkSpeedUps(req);
        if (overrides == null) overrides = Noise.SEEDED;
        DenoiseSession.Work work = new DenoiseSession.Work(req.steps());
        work.loadSeconds = loadSeconds;
        LoraLibrary.Selection set = loras.select(req.prompt());
        Variant variant = variant(set);
        float[] context = encodePromptTimed(req, set.prompt(), variant, work);
        Scheduler scheduler = scheduler(req.scheduler());
        scheduler.setTimesteps(req.steps());
        int[] shape = latentShape(req);
        int lc = shape[0], lh = shape[1], lw = shape[2], n = lc * lh * lw;
        DenoiseSession.Gaussian rng = new DenoiseSession.Gaussian(req.seed());
        float[] noise = req.initLatents() != null ? initLatents(req.initLatents(), lc, lh, lw) : gaussian(rng, n);
        int first = 0;
        float[] latents;
        if (req.initImage() != null) {
            FeatureMap img = req.initImage();
            if (img.width() != req.width() || img.height() != req.height()) {
                throw new IllegalArgumentException("--init-image is " + img.width() + "x" + img.height()
                        + " but --width/--height ask for " + req.width() + "x" + req.height());
            }
            long t = System.nanoTime();
            float[] x0 = (overrides.posteriorMean() ? encoder.encodeMean(img) : encoder.encode(img, rng)).data();
            work.encodeSeconds = (System.nanoTime() - t) / 1e9;
            if (scheduler instanceof LcmScheduler lcm) lcm.setTimesteps(req.steps(), req.strength());
            first = scheduler.startIndexForStrength(req.strength());
            latents = first >= scheduler.numSteps() ? x0 : scheduler.addNoise(x0, noise, first);
        } else {
            latents = noise;
            float sigma = scheduler.initNoiseSigma();
            for (int i = 0; i < n; i++) latents[i] *= sigma;
        }
        NoiseSource stepNoise = overrides.stepNoise() == null ? null : nchwToLatentLayout(overrides.stepNoise(), lc, lh, lw);
        return new DenoiseSession(req, variant, contextRows(req, variant), context, ClipTokenizer.MAX_LENGTH, scheduler, latents, shape, rng,
                stepNoise, first, work);
    }

    /**
     * Continues a run another machine started: the scheduler is rebuilt from this model's config and restored from
     * {@code state}; the noise stream is fast-forwarded past {@code noiseDraws} values; {@code context} (nullable)
     * replaces this model's own prompt embeddings.
     */
    public DenoiseSession resume(GenerateRequest req, SchedulerState state, float[] latentsChannelsLast, long noiseDraws,
                                 float[] context) {
        req.validate();
        checkSpeedUps(req);
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
        DenoiseSession.Work work = new DenoiseSession.Work(req.steps());
        LoraLibrary.Selection set = loras.select(req.prompt());
        Variant variant = variant(set);
        int rows = contextRows(req, variant);
        if (context == null) {
            context = encodePromptTimed(req, set.prompt(), variant, work);
        } else if (context.length != rows * ClipTokenizer.MAX_LENGTH * contextDim()) {
            throw new IllegalArgumentException("prompt embeddings have " + context.length + " values, this model needs "
                    + rows * ClipTokenizer.MAX_LENGTH * contextDim());
        }
        Scheduler s = scheduler(req.scheduler());
        s.setTimesteps(req.steps());
        s.restore(state);
        // a session draws its initial noise and at most one latent's worth a step (of any schedule, the teacher's of a
        // hybrid run included): more is a forged handoff, and fast-forwarding to it would spin as long as it says
        long maxDraws = (long) (GenerateRequest.MAX_STEPS + 1) * latentsChannelsLast.length;
        if (noiseDraws < 0 || noiseDraws > maxDraws) {
            throw new IllegalArgumentException("the noise stream is at draw " + noiseDraws + ", but a session of these latents "
                    + "draws at most " + maxDraws);
        }
        DenoiseSession.Gaussian rng = new DenoiseSession.Gaussian(req.seed());
        rng.skip(noiseDraws);
        return new DenoiseSession(req, variant, rows, context, ClipTokenizer.MAX_LENGTH, s, latentsChannelsLast.clone(), shape, rng,
                null, state.nextStep(), work);
    }

    /** What a request's speed-ups need of this model: DeepCache's branch must be one of the UNet's skip connections. */
    private void checkSpeedUps(GenerateRequest req) {
        DeepCacheSettings dc = req.speedUps().deepCache();
        if (dc != null && dc.shallowSkips() > unet.skipConnections()) {
            throw new IllegalArgumentException("--deepcache branch " + dc.branch() + " does not exist: this UNet has "
                    + unet.skipConnections() + " skip branches (0.." + (unet.skipConnections() - 1) + ")");
        }
    }

    /** Whether this model is a latent consistency student (guidance through its timestep condition). */
    public boolean consistencyModel() {
        return base.embedsGuidance();
    }

    /**
     * Continues latents another model's sampler brought to {@code timestep} (channels-last), with the LCM scheduler from
     * the grid point at or below it (a teacher's first steps on a server, this LCM student's few steps after).
     * {@code context} (nullable) replaces this model's prompt embeddings: one row (the prompt's), or a guided
     * request's two rows, of which the prompt's is taken.
     */
    public DenoiseSession continueAt(GenerateRequest req, int timestep, float[] latentsChannelsLast, float[] context) {
        req.validate();
        checkSpeedUps(req);
        if (!req.scheduler().equals("lcm")) throw new IllegalArgumentException("continuing another sampler's latents needs the lcm scheduler");
        int[] shape = latentShape(req);
        if (latentsChannelsLast.length != shape[0] * shape[1] * shape[2]) {
            throw new IllegalArgumentException("latents have " + latentsChannelsLast.length + " values, expected " + shape[0] * shape[1] * shape[2]);
        }
        DenoiseSession.Work work = new DenoiseSession.Work(req.steps());
        LoraLibrary.Selection set = loras.select(req.prompt());
        Variant variant = variant(set);
        int rows = contextRows(req, variant), per = ClipTokenizer.MAX_LENGTH * contextDim();
        if (context == null) {
            context = encodePromptTimed(req, set.prompt(), variant, work);
        } else if (context.length % per != 0 || context.length / per < rows) {
            throw new IllegalArgumentException("prompt embeddings have " + context.length + " values, this model needs " + rows * per);
        } else {
            context = java.util.Arrays.copyOfRange(context, context.length - rows * per, context.length);
        }
        LcmScheduler lcm = (LcmScheduler) scheduler("lcm");
        lcm.setTimestepsFrom(req.steps(), timestep);
        DenoiseSession.Gaussian rng = new DenoiseSession.Gaussian(req.seed());
        return new DenoiseSession(req, variant, rows, context, ClipTokenizer.MAX_LENGTH, lcm, latentsChannelsLast.clone(), shape, rng,
                null, 0, work);
    }

    private float[] encodePromptTimed(GenerateRequest req, String prompt, Variant v, DenoiseSession.Work work) {
        long t = System.nanoTime(), macs = Flops.macs();
        float[] context = encodePrompt(req, prompt, v);
        work.textSeconds = (System.nanoTime() - t) / 1e9;
        work.textMacs = Flops.macs() - macs;
        return context;
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
     * One denoising step for every session ([uncond, cond] rows of each session in order; a session outside its
     * guidance interval adds its cond row only). Sessions must share a latent size and not be done. They share one
     * UNet call, except where their calls differ (LoRA set, token-merge settings, a DeepCache session's full or cached
     * step): then each kind of call runs once for its sessions.
     */
    public void step(List<DenoiseSession> sessions) {
        step(sessions, null);
    }

    /** What a UNet call is given: its latents (scaled model input), per-row timesteps and context rows. */
    public interface UNetInputs {
        void observe(FeatureMap latents, float[] timesteps, float[] context, int contextTokens);
    }

    /** As {@link #step(List)}, showing the UNet call's inputs to {@code observer} (nullable) first (calibration). */
    public void step(List<DenoiseSession> sessions, UNetInputs observer) {
        if (sessions.isEmpty()) return;
        DenoiseSession first = sessions.getFirst();
        Map<CallKind, List<DenoiseSession>> calls = new LinkedHashMap<>();
        for (DenoiseSession s : sessions) {
            if (s.done()) throw new IllegalStateException("session already finished");
            if (!s.sameSize(first)) throw new IllegalArgumentException("sessions in one batch must share the latent size");
            calls.computeIfAbsent(new CallKind(s.variant, s.nextCall()), c -> new ArrayList<>()).add(s);
        }
        calls.forEach((kind, group) -> stepTogether(kind.call(), group, observer));
    }

    /** What sessions must share to share a UNet call. */
    private record CallKind(Variant variant, DenoiseSession.Call call) {}

    /** One UNet call for sessions that share its kind, then guidance and the scheduler step for each. */
    private void stepTogether(DenoiseSession.Call call, List<DenoiseSession> sessions, UNetInputs observer) {
        long t = System.nanoTime(), allocated = Memory.allocatedBytes(), macs = Flops.macs();
        DenoiseSession first = sessions.getFirst();
        int n = first.latentSize(), rows = 0, tokens = first.contextTokens;
        for (DenoiseSession s : sessions) rows += s.stepRows();
        int dim = contextDim();
        float[] in = new float[rows * n], ts = new float[rows], ctx = new float[rows * tokens * dim];
        long[] rowSeeds = new long[rows];
        int r = 0;
        for (DenoiseSession s : sessions) {
            float[] scaled = s.scheduler.scaleModelInput(s.latents, s.nextStep);
            float timestep = s.nextTimestep();
            int skip = s.rows() - s.stepRows(); // an unguided step of a guided session: its cond row only
            System.arraycopy(s.context, skip * tokens * dim, ctx, r * tokens * dim, s.stepRows() * tokens * dim);
            for (int b = 0; b < s.stepRows(); b++, r++) {
                System.arraycopy(scaled, 0, in, r * n, n);
                ts[r] = timestep;
                rowSeeds[r] = TokenMerging.rowSeed(s.request.seed(), s.nextStep);
            }
        }
        UNet2DConditionModel model = first.variant.unet();
        UNetHooks hooks = UNetHooks.NONE;
        if (first.variant.embedsGuidance()) hooks = hooks.withTimestepCond(guidanceEmbedding(sessions, rows, model.timeCondDim()));
        if (call.tokenMerge() != null) hooks = hooks.withTokenMerge(new TokenMerging(call.tokenMerge(), rowSeeds));
        FeatureCache cache = null;
        if (call.cacheSkips() > 0) {
            List<FeatureCache> stored = new ArrayList<>();
            if (call.reuse()) for (DenoiseSession s : sessions) stored.add(s.deepCache.stored());
            cache = call.reuse() ? FeatureCache.concat(stored) : new FeatureCache(call.cacheSkips());
            hooks = hooks.withCache(cache, call.reuse());
        }
        FeatureMap latents = new FeatureMap(in, rows, first.lh, first.lw, first.lc);
        if (observer != null) observer.observe(latents, ts, ctx, tokens);
        float[] pred = model.predict(latents, ts, ctx, tokens, hooks).data();
        double seconds = (System.nanoTime() - t) / 1e9;
        long callAllocated = Memory.allocatedBytes() - allocated, callMacs = Flops.macs() - macs;
        r = 0;
        for (DenoiseSession s : sessions) {
            int stepRows = s.stepRows(), base = r * n;
            if (cache != null && !call.reuse()) s.deepCache.store(cache.rows(r, stepRows), s.nextStep, stepRows);
            float[] eps = new float[n];
            if (stepRows == 2) {
                float cfg = s.request.cfg();
                for (int i = 0; i < n; i++) eps[i] = pred[base + i] + cfg * (pred[base + n + i] - pred[base + i]);
            } else {
                System.arraycopy(pred, base, eps, 0, n);
            }
            r += stepRows;
            s.advance(eps, seconds, callAllocated * stepRows / rows, callMacs * stepRows / rows);
        }
    }

    /** An LCM student's condition: per row the embedding of w = cfg − 1 (diffusers' LatentConsistencyModelPipeline). */
    private static float[] guidanceEmbedding(List<DenoiseSession> sessions, int rows, int dim) {
        float[] w = new float[rows];
        int r = 0;
        for (DenoiseSession s : sessions) {
            for (int b = 0; b < s.stepRows(); b++) w[r++] = s.request.cfg() - 1f;
        }
        return GuidanceEmbedding.of(w, dim);
    }

    /**
     * Steps the sessions (one latent size) together until each is done, a progress bar on {@code progress} when not
     * null (for the first session's steps).
     */
    public void run(List<DenoiseSession> sessions, PrintStream progress) {
        if (sessions.isEmpty()) return;
        DenoiseSession first = sessions.getFirst();
        Progress bar = Progress.steps(progress, "denoise", first.totalSteps() - first.firstStep());
        List<DenoiseSession> active = new ArrayList<>(sessions);
        while (true) {
            active.removeIf(DenoiseSession::done);
            if (active.isEmpty()) return;
            step(active);
            bar.step(first.nextStep() - first.firstStep());
        }
    }

    /** The VAE's round trip of images [n][h][w][c] in [-1, 1]: posterior mean, then decode. */
    public FeatureMap reconstruct(FeatureMap images) {
        return vae.decode(encoder.encodeMean(images));
    }

    /** VAE decode of the session's current latents: the image, channels-last in [-1, 1]. */
    public FeatureMap decode(DenoiseSession s) {
        return decodeAll(List.of(s));
    }

    /** One VAE call for the sessions' latents (all of one size): images [sessions][h][w][c] in [-1, 1]. */
    public FeatureMap decodeAll(List<DenoiseSession> sessions) {
        DenoiseSession first = sessions.getFirst();
        int n = first.latentSize();
        float[] all = new float[sessions.size() * n];
        for (int b = 0; b < sessions.size(); b++) {
            DenoiseSession s = sessions.get(b);
            if (!s.sameSize(first)) throw new IllegalArgumentException("sessions decoded together must share the latent size");
            System.arraycopy(s.latents, 0, all, b * n, n);
        }
        Buffers.clear(); // the UNet's reusable arrays are of no use to the VAE
        long t = System.nanoTime(), macs = Flops.macs();
        FeatureMap images = vae.decode(new FeatureMap(all, sessions.size(), first.lh, first.lw, first.lc));
        double seconds = (System.nanoTime() - t) / 1e9;
        long vaeMacs = (Flops.macs() - macs) / sessions.size();
        for (DenoiseSession s : sessions) {
            s.work.vaeSeconds = seconds;
            s.work.vaeMacs = vaeMacs;
        }
        return images;
    }

    /** Decodes and packages the result: the image, the final latents (NCHW) and where time went. */
    public GenerateResult finish(DenoiseSession s) {
        FeatureMap image = decode(s);
        FeatureMap latentMap = new FeatureMap(s.latents.clone(), 1, s.lh, s.lw, s.lc);
        DenoiseSession.Work w = s.work;
        int from = s.firstStep(), to = s.nextStep;
        var timings = new GenerateResult.Timings(w.loadSeconds, w.textSeconds, java.util.Arrays.copyOfRange(w.stepSeconds, from, to),
                w.vaeSeconds, w.encodeSeconds, Memory.peakRss(), w.textMacs, w.unetMacs, w.vaeMacs,
                java.util.Arrays.copyOfRange(w.stepAllocated, from, to));
        return new GenerateResult(image, latentMap.toNchw(), new int[]{1, s.lc, s.lh, s.lw}, timings);
    }

    private static float[] initLatents(float[] nchw, int c, int h, int w) {
        if (nchw.length != c * h * w) {
            throw new IllegalArgumentException("--init-latents has " + nchw.length + " values, expected shape [1, " + c + ", "
                    + h + ", " + w + "] for this size");
        }
        return FeatureMap.fromNchw(nchw, 1, c, h, w).data();
    }

    /** Adapts an NCHW noise source to the channels-last latents the loop keeps. */
    private static NoiseSource nchwToLatentLayout(NoiseSource nchw, int c, int h, int w) {
        return (out, step) -> {
            float[] buf = new float[out.length];
            nchw.fill(buf, step);
            System.arraycopy(FeatureMap.fromNchw(buf, 1, c, h, w).data(), 0, out, 0, out.length);
        };
    }

    private static float[] gaussian(DenoiseSession.Gaussian rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = rng.next();
        return v;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        loras.close();
        if (ownsCheckpoint) checkpoint.close();
    }
}
