package dev.edgediffuse.eval;

import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.FeatureMap;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A text-to-image checkpoint as an {@link ImageGenerator}: the jobs of one call are denoised together, one UNet call
 * per step for all of them ({@link Denoiser#step}), then decoded one by one. Each image is what
 * {@code edgediffuse generate} gives for the same prompt, seed and settings.
 */
public final class PipelineGenerator implements ImageGenerator {
    /** Sampling settings shared by every job. */
    public record Sampling(int steps, float cfg, int cfgMaxTimestep, String scheduler, String negativePrompt, int width, int height) {}

    private final Denoiser denoiser;
    private final Sampling sampling;
    private final String name;
    private final int batch;

    private PipelineGenerator(Denoiser denoiser, Sampling sampling, String name, int batch) {
        this.denoiser = denoiser;
        this.sampling = sampling;
        this.name = name;
        this.batch = batch;
    }

    /** Opens {@code model} (diffusers folder or single file) and checks the settings against it. */
    public static PipelineGenerator open(Path model, Sampling sampling, int batch) {
        return open(model, sampling, batch, Denoiser.Layers.DENSE);
    }

    /** As {@link #open(Path, Sampling, int)}, the model's layers built by {@code layers}. */
    public static PipelineGenerator open(Path model, Sampling sampling, int batch, Denoiser.Layers layers) {
        Denoiser d = Denoiser.load(model, Pipeline.Options.DEFAULT, layers);
        try {
            PipelineGenerator g = new PipelineGenerator(d, sampling, d.modelName(), batch);
            GenerateRequest probe = g.request(new EvalPlan.Job(0, 0, "probe", 0));
            probe.validate();
            d.latentShape(probe);
            d.scheduler(sampling.scheduler());
            return g;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    GenerateRequest request(EvalPlan.Job job) {
        return new GenerateRequest(job.prompt(), sampling.negativePrompt(), sampling.steps(), sampling.cfg(),
                sampling.cfgMaxTimestep(), sampling.scheduler(), job.seed(), sampling.width(), sampling.height(), null, null, 1f);
    }

    /** [channels, height, width] of this model's latents at the evaluation size. */
    public int[] latentShape() {
        return denoiser.latentShape(request(new EvalPlan.Job(0, 0, "", 0)));
    }

    @Override
    public List<FeatureMap> generate(List<EvalPlan.Job> jobs) {
        List<DenoiseSession> sessions = new ArrayList<>(jobs.size());
        for (EvalPlan.Job j : jobs) sessions.add(denoiser.start(request(j)));
        denoiser.run(sessions, null);
        List<FeatureMap> images = new ArrayList<>(sessions.size());
        for (DenoiseSession s : sessions) images.add(denoiser.decode(s));
        return images;
    }

    @Override
    public FeatureMap reconstruct(FeatureMap images) {
        return denoiser.reconstruct(images);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int preferredBatch() {
        return batch;
    }

    @Override
    public void close() {
        denoiser.close();
    }
}
