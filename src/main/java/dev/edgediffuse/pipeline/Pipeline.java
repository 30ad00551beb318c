package dev.edgediffuse.pipeline;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.kernels.WarmUp;
import dev.edgediffuse.lora.LoraLibrary;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Residency;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt → tokens → text encoder → UNet steps under a scheduler (classifier-free guidance) → VAE decode → image, for
 * whole requests: {@link #generate} for one, {@link #generateBatch} for many at once. Both run the one loop of
 * {@link Denoiser}, which the server and hybrid runs drive step by step.
 */
public final class Pipeline implements AutoCloseable {
    /**
     * Load options: configs for a single-file checkpoint, a replacement VAE (e.g. TAESD) folder, low-memory mode
     * (VAE decoded in tiles; weights leave the resident set after each use in every mode, see {@link Residency}),
     * and the LoRAs to apply (to every request, and those prompts may name).
     */
    public record Options(Path configDir, Path vaeDir, boolean lowMemory, LoraLibrary.Settings loras) {
        public static final Options DEFAULT = new Options(null, null, false);

        public Options(Path configDir, Path vaeDir) {
            this(configDir, vaeDir, false);
        }

        public Options(Path configDir, Path vaeDir, boolean lowMemory) {
            this(configDir, vaeDir, lowMemory, LoraLibrary.Settings.NONE);
        }

        public Options withLoras(LoraLibrary.Settings l) {
            return new Options(configDir, vaeDir, lowMemory, l);
        }
    }

    private final Denoiser denoiser;

    private Pipeline(Denoiser denoiser) {
        this.denoiser = denoiser;
    }

    public static Pipeline load(Path path) {
        return load(path, Options.DEFAULT);
    }

    public static Pipeline load(Path path, Options options) {
        return load(path, options, Denoiser.Layers.DENSE);
    }

    /** As {@link #load(Path, Options)}, the layers built by {@code layers}. */
    public static Pipeline load(Path path, Options options, Denoiser.Layers layers) {
        WarmUp.start();
        Denoiser d = Denoiser.load(path, options, layers);
        if (!Residency.releaseAfterUse()) d.prefetch();
        return new Pipeline(d);
    }

    /** A pipeline over a model in memory (see {@link Denoiser#open}); the caller keeps and closes the checkpoint. */
    public static Pipeline open(Checkpoint checkpoint, boolean lowMemory, Denoiser.Layers layers) {
        WarmUp.start();
        return new Pipeline(Denoiser.open(checkpoint, lowMemory, layers));
    }

    /** The loop this pipeline runs, for step-by-step use. */
    public Denoiser denoiser() {
        return denoiser;
    }

    /** The UNet's native image size in pixels (sample_size × 8). */
    public int defaultImageSize() {
        return denoiser.defaultImageSize();
    }

    public String modelName() {
        return denoiser.modelName();
    }

    /** The sampling settings for requests that leave them out (the model's {@value SamplingDefaults#FILE}). */
    public SamplingDefaults samplingDefaults() {
        return denoiser.samplingDefaults();
    }

    public GenerateResult generate(GenerateRequest req) {
        return generate(req, null);
    }

    /** As {@link #generate(GenerateRequest)}, drawing a progress bar on {@code progress} when not null. */
    public GenerateResult generate(GenerateRequest req, PrintStream progress) {
        return generate(req, progress, Denoiser.Noise.SEEDED);
    }

    /** As {@link #generate(GenerateRequest, PrintStream)} with some random draws replaced (null: none). */
    public GenerateResult generate(GenerateRequest req, PrintStream progress, Denoiser.Noise overrides) {
        DenoiseSession s = denoiser.start(req, overrides);
        denoiser.run(List.of(s), progress);
        return denoiser.finish(s);
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
        List<DenoiseSession> sessions = new ArrayList<>(reqs.size());
        for (GenerateRequest r : reqs) {
            if (r.steps() != first.steps() || !r.scheduler().equals(first.scheduler()) || r.width() != first.width()
                    || r.height() != first.height() || r.cfg() != first.cfg() || r.cfgMaxTimestep() != first.cfgMaxTimestep()
                    || r.initImage() != null) {
                throw new IllegalArgumentException("a batch needs one steps/scheduler/size/cfg and no init image");
            }
            sessions.add(denoiser.start(r));
        }
        denoiser.run(sessions, null);
        return denoiser.decodeAll(sessions);
    }

    @Override
    public void close() {
        denoiser.close();
    }
}
