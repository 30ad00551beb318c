package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.kernels.Flops;
import dev.edgediffuse.kernels.WarmUp;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.scheduler.LcmScheduler;
import dev.edgediffuse.scheduler.NoiseSource;
import dev.edgediffuse.scheduler.Scheduler;
import dev.edgediffuse.scheduler.Schedulers;
import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Residency;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * Prompt → tokens → text encoder → UNet steps under a scheduler (classifier-free guidance, cond and uncond in one
 * batch) → VAE decode → image. Same semantics as diffusers' StableDiffusionPipeline / Img2ImgPipeline.
 */
public final class Pipeline implements AutoCloseable {
    /** Load options: configs for a single-file checkpoint, and a replacement VAE (e.g. TAESD) folder. */
    /**
     * Load options: configs for a single-file checkpoint, a replacement VAE (e.g. TAESD) folder, and low-memory mode
     * (VAE decoded in tiles; weights leave the resident set after each use in every mode, see {@link Residency}).
     */
    public record Options(Path configDir, Path vaeDir, boolean lowMemory) {
        public static final Options DEFAULT = new Options(null, null, false);

        public Options(Path configDir, Path vaeDir) {
            this(configDir, vaeDir, false);
        }
    }

    /** Low-memory decode above 256 px: 288-pixel tiles overlapping by 64 (2×2 tiles at 512², 1.27× the work). */
    private static final AutoencoderKL.Tiling LOW_MEMORY_TILING = new AutoencoderKL.Tiling(32, 36, 8);

    private final Checkpoint checkpoint;
    private final Checkpoint.Vae vaeOverride;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final ImageAutoencoder vae;
    private final double loadSeconds;

    private Pipeline(Checkpoint checkpoint, Checkpoint.Vae vaeOverride, long loadStartNanos) {
        this.checkpoint = checkpoint;
        this.vaeOverride = vaeOverride;
        this.tokenizer = checkpoint.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(checkpoint.tokenizerDir);
        this.textEncoder = new ClipTextModel(checkpoint.textConfig, checkpoint.text);
        this.unet = new UNet2DConditionModel(checkpoint.unetConfig, checkpoint.unet);
        this.vae = vaeOverride != null ? vaeOverride.model() : ImageAutoencoder.create(checkpoint.vaeConfig, checkpoint.vae);
        this.loadSeconds = (System.nanoTime() - loadStartNanos) / 1e9;
    }

    public static Pipeline load(Path path) {
        return load(path, Options.DEFAULT);
    }

    public static Pipeline load(Path path, Options options) {
        long t0 = System.nanoTime();
        WarmUp.start();
        Checkpoint cp = Checkpoint.open(path, options.configDir());
        if (!Residency.releaseAfterUse()) cp.prefetch();
        Checkpoint.Vae vae = null;
        try {
            if (options.vaeDir() != null) vae = Checkpoint.openVae(options.vaeDir());
            Pipeline p = new Pipeline(cp, vae, t0);
            if (options.lowMemory() && p.vae instanceof AutoencoderKL kl) kl.setTiling(LOW_MEMORY_TILING);
            return p;
        } catch (RuntimeException e) {
            cp.close();
            if (vae != null) vae.close();
            throw e;
        }
    }

    /** The UNet's native image size in pixels (sample_size × 8). */
    public int defaultImageSize() {
        return checkpoint.unetConfig.getInt("sample_size", 64) * vae.downscale(); // as diffusers: sample_size × VAE scale
    }

    public String modelName() {
        return checkpoint.name;
    }

    /** The sampling settings for requests that leave them out (the model's {@value SamplingDefaults#FILE}). */
    public SamplingDefaults samplingDefaults() {
        return checkpoint.samplingDefaults;
    }

    public GenerateResult generate(GenerateRequest req) {
        return generate(req, null);
    }

    /**
     * Replaces generate()'s seeded random draws, to replay a reference run (e.g. diffusers with a torch generator):
     * {@code stepNoise} fills the per-step noise of stochastic schedulers (Euler ancestral, LCM) in NCHW order
     * [1][c][h][w] as torch lays it out, for the scheduler's step index; {@code posteriorMean} makes img2img encode
     * with the VAE posterior mean instead of a sample (diffusers' {@code sample_mode="argmax"}). A null
     * {@code stepNoise} keeps the seeded stream.
     */
    public record Noise(NoiseSource stepNoise, boolean posteriorMean) {
        public static final Noise SEEDED = new Noise(null, false);
    }

    /** As {@link #generate(GenerateRequest)}, drawing a progress bar on {@code progress} when not null. */
    public GenerateResult generate(GenerateRequest req, PrintStream progress) {
        return generate(req, progress, Noise.SEEDED);
    }

    /** As {@link #generate(GenerateRequest, PrintStream)} with some random draws replaced (null: none). */
    public GenerateResult generate(GenerateRequest req, PrintStream progress, Noise overrides) {
        req.validate();
        if (overrides == null) overrides = Noise.SEEDED;
        boolean guided = req.guided();

        long t = System.nanoTime(), macs0 = Flops.macs();
        int[][] ids = guided
                ? new int[][]{tokenizer.encode(req.negativePrompt() == null ? "" : req.negativePrompt()), tokenizer.encode(req.prompt())}
                : new int[][]{tokenizer.encode(req.prompt())};
        float[] context = textEncoder.encode(ids);
        int contextTokens = ids[0].length;
        float[] condContext = guided ? condRows(context) : context;
        double textSeconds = (System.nanoTime() - t) / 1e9;
        long textMacs = Flops.macs() - macs0;

        Scheduler scheduler;
        try {
            scheduler = Schedulers.create(req.scheduler(), checkpoint.schedulerConfig);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--scheduler: " + e.getMessage());
        }
        scheduler.setTimesteps(req.steps());
        float[] timesteps = scheduler.timesteps();

        int multiple = vae.downscale() * unet.sizeMultiple();
        if (req.width() % multiple != 0 || req.height() % multiple != 0) {
            throw new IllegalArgumentException("--width and --height must be multiples of " + multiple + " for this model, got "
                    + req.width() + "x" + req.height());
        }
        int lc = unet.inChannels(), lh = req.height() / vae.downscale(), lw = req.width() / vae.downscale();
        int n = lh * lw * lc;
        Random rng = new Random(req.seed());
        float[] noise = req.initLatents() != null ? initLatents(req.initLatents(), lc, lh, lw) : gaussian(rng, n);

        int start = 0;
        float[] latents;
        double encodeSeconds = 0;
        if (req.initImage() != null) {
            FeatureMap img = req.initImage();
            if (img.width() != req.width() || img.height() != req.height()) {
                throw new IllegalArgumentException("--init-image is " + img.width() + "x" + img.height()
                        + " but --width/--height ask for " + req.width() + "x" + req.height());
            }
            long te = System.nanoTime();
            float[] x0 = (overrides.posteriorMean() ? vae.encodeMean(img) : vae.encode(img, rng)).data();
            encodeSeconds = (System.nanoTime() - te) / 1e9;
            if (scheduler instanceof LcmScheduler lcm) lcm.setTimesteps(req.steps(), req.strength());
            timesteps = scheduler.timesteps();
            start = scheduler.startIndexForStrength(req.strength());
            latents = start >= timesteps.length ? x0 : scheduler.addNoise(x0, noise, start);
        } else {
            latents = noise.clone();
            float sigma = scheduler.initNoiseSigma();
            for (int i = 0; i < n; i++) latents[i] *= sigma;
        }

        NoiseSource stepNoise = overrides.stepNoise() == null
                ? (out, step) -> { for (int k = 0; k < out.length; k++) out[k] = (float) rng.nextGaussian(); }
                : nchwToLatentLayout(overrides.stepNoise(), lc, lh, lw);
        int steps = timesteps.length - start;
        long unetMacs0 = Flops.macs();
        double[] stepSeconds = new double[steps];
        long[] stepAllocated = new long[steps];
        Progress bar = Progress.steps(progress, "denoise", steps);
        for (int i = start; i < timesteps.length; i++) {
            long ts = System.nanoTime(), allocated = Memory.allocatedBytes();
            float[] scaled = scheduler.scaleModelInput(latents, i);
            boolean guidedStep = req.guidedAt(timesteps[i]);
            int batch = guidedStep ? 2 : 1;
            float[] in = new float[batch * n];
            for (int b = 0; b < batch; b++) System.arraycopy(scaled, 0, in, b * n, n);
            float[] tsArr = new float[batch];
            java.util.Arrays.fill(tsArr, timesteps[i]);
            float[] pred = unet.predict(new FeatureMap(in, batch, lh, lw, lc), tsArr, guidedStep ? context : condContext, contextTokens).data();
            float[] eps = guidedStep ? guide(pred, n, req.cfg()) : pred;
            latents = scheduler.step(eps, i, latents, stepNoise);
            checkFinite(latents, i);
            stepSeconds[i - start] = (System.nanoTime() - ts) / 1e9;
            stepAllocated[i - start] = Memory.allocatedBytes() - allocated;
            bar.step(i - start + 1);
        }

        long unetMacs = Flops.macs() - unetMacs0, vaeMacs0 = Flops.macs();
        Buffers.clear(); // the UNet's reusable arrays are of no use to the VAE
        long tv = System.nanoTime();
        FeatureMap image = vae.decode(new FeatureMap(latents, 1, lh, lw, lc));
        double vaeSeconds = (System.nanoTime() - tv) / 1e9;
        FeatureMap latentMap = new FeatureMap(latents, 1, lh, lw, lc);
        var timings = new GenerateResult.Timings(loadSeconds, textSeconds, stepSeconds, vaeSeconds, encodeSeconds,
                Memory.peakRss(), textMacs, unetMacs, Flops.macs() - vaeMacs0, stepAllocated);
        return new GenerateResult(image, latentMap.toNchw(), new int[]{1, lc, lh, lw}, timings);
    }

    /**
     * Text-to-image for many requests at once (evaluation, grids): the UNet and the VAE see the whole batch per call,
     * which is far faster for small models than one image at a time. The requests must share steps, scheduler, size
     * and guidance; each keeps its own seed, so each image equals what {@link #generate(GenerateRequest)} returns.
     * Returns the images as one map of batch {@code reqs.size()}.
     */
    public FeatureMap generateBatch(List<GenerateRequest> reqs) {
        if (reqs.isEmpty()) throw new IllegalArgumentException("no requests to generate");
        GenerateRequest first = reqs.getFirst();
        for (GenerateRequest r : reqs) {
            r.validate();
            if (r.steps() != first.steps() || !r.scheduler().equals(first.scheduler()) || r.width() != first.width()
                    || r.height() != first.height() || r.cfg() != first.cfg() || r.cfgMaxTimestep() != first.cfgMaxTimestep()
                    || r.initImage() != null) {
                throw new IllegalArgumentException("a batch needs one steps/scheduler/size/cfg and no init image");
            }
        }
        int count = reqs.size();
        boolean guided = first.guided();
        int[][] ids = new int[guided ? 2 * count : count][];
        for (int b = 0; b < count; b++) {
            GenerateRequest r = reqs.get(b);
            if (guided) ids[b] = tokenizer.encode(r.negativePrompt() == null ? "" : r.negativePrompt());
            ids[guided ? count + b : b] = tokenizer.encode(r.prompt());
        }
        float[] context = textEncoder.encode(ids);
        float[] condContext = guided ? condRows(context) : context;
        int lc = unet.inChannels(), lh = first.height() / vae.downscale(), lw = first.width() / vae.downscale(), n = lh * lw * lc;
        if (lh % unet.sizeMultiple() != 0 || lw % unet.sizeMultiple() != 0) {
            throw new IllegalArgumentException("--width and --height must be multiples of " + vae.downscale() * unet.sizeMultiple());
        }
        Scheduler[] schedulers = new Scheduler[count];
        Random[] rngs = new Random[count];
        float[][] latents = new float[count][];
        for (int b = 0; b < count; b++) {
            schedulers[b] = Schedulers.create(first.scheduler(), checkpoint.schedulerConfig);
            schedulers[b].setTimesteps(first.steps());
            rngs[b] = new Random(reqs.get(b).seed());
            float[] init = reqs.get(b).initLatents();
            latents[b] = init != null ? initLatents(init, lc, lh, lw) : gaussian(rngs[b], n);
            float sigma = schedulers[b].initNoiseSigma();
            for (int i = 0; i < n; i++) latents[b][i] *= sigma;
        }
        float[] timesteps = schedulers[0].timesteps();
        for (int i = 0; i < timesteps.length; i++) {
            boolean guidedStep = first.guidedAt(timesteps[i]);
            int rows = guidedStep ? 2 * count : count;
            float[] in = new float[rows * n];
            for (int b = 0; b < count; b++) {
                float[] scaled = schedulers[b].scaleModelInput(latents[b], i);
                System.arraycopy(scaled, 0, in, b * n, n);
                if (guidedStep) System.arraycopy(scaled, 0, in, (count + b) * n, n);
            }
            float[] ts = new float[rows];
            java.util.Arrays.fill(ts, timesteps[i]);
            float[] pred = unet.predict(new FeatureMap(in, rows, lh, lw, lc), ts, guidedStep ? context : condContext, ids[0].length).data();
            for (int b = 0; b < count; b++) {
                float[] eps = new float[n];
                for (int k = 0; k < n; k++) {
                    float u = pred[b * n + k];
                    eps[k] = guidedStep ? u + first.cfg() * (pred[(count + b) * n + k] - u) : u;
                }
                Random rng = rngs[b];
                latents[b] = schedulers[b].step(eps, i, latents[b], (out, step) -> {
                    for (int k = 0; k < out.length; k++) out[k] = (float) rng.nextGaussian();
                });
                checkFinite(latents[b], i);
            }
        }
        float[] all = new float[count * n];
        for (int b = 0; b < count; b++) System.arraycopy(latents[b], 0, all, b * n, n);
        Buffers.clear();
        return vae.decode(new FeatureMap(all, count, lh, lw, lc));
    }

    /** The cond half of [uncond rows, cond rows] prompt embeddings: what an unguided step of a guided run attends to. */
    private static float[] condRows(float[] context) {
        return java.util.Arrays.copyOfRange(context, context.length / 2, context.length);
    }

    /** uncond + cfg·(cond − uncond), batch order [uncond, cond] as diffusers. */
    private static float[] guide(float[] pred, int n, float cfg) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = pred[i] + cfg * (pred[n + i] - pred[i]);
        return out;
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

    private static float[] gaussian(Random rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextGaussian();
        return v;
    }

    private static void checkFinite(float[] latents, int step) {
        for (float v : latents) {
            if (!Float.isFinite(v)) throw new IllegalStateException("latents became NaN/infinite at step " + (step + 1));
        }
    }

    @Override
    public void close() {
        checkpoint.close();
        if (vaeOverride != null) vaeOverride.close();
    }
}
