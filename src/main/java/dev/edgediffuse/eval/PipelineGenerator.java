package dev.edgediffuse.eval;

import dev.edgediffuse.hybrid.LocalSplit;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.tensor.FeatureMap;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A text-to-image checkpoint as an {@link ImageGenerator}: the jobs of one call are denoised together, one UNet call
 * per step for all of them ({@link Denoiser#step}), then decoded one by one. Each image is what
 * {@code edgediffuse generate} gives for the same prompt, seed and settings. With a teacher ({@link #withTeacher}),
 * the teacher runs each job's first steps and this model the rest ({@link LocalSplit}): Hybrid SD's split.
 */
public final class PipelineGenerator implements ImageGenerator {
    /** Sampling settings shared by every job, with the speed-ups (token merging, DeepCache) they run with. */
    public record Sampling(int steps, float cfg, int cfgMaxTimestep, String scheduler, String negativePrompt, int width, int height,
                           SpeedUps speedUps) {
        public Sampling {
            if (speedUps == null) speedUps = SpeedUps.NONE;
        }

        public Sampling(int steps, float cfg, int cfgMaxTimestep, String scheduler, String negativePrompt, int width, int height) {
            this(steps, cfg, cfgMaxTimestep, scheduler, negativePrompt, width, height, SpeedUps.NONE);
        }

        /** The same settings unaccelerated (a reference for what the speed-ups cost). */
        public Sampling withoutSpeedUps() {
            return new Sampling(steps, cfg, cfgMaxTimestep, scheduler, negativePrompt, width, height, SpeedUps.NONE);
        }
    }

    private final Denoiser denoiser;
    private final Sampling sampling;
    private final String name;
    private final int batch;
    private final Denoiser teacher;
    private final int teacherSteps;

    private PipelineGenerator(Denoiser denoiser, Sampling sampling, String name, int batch, Denoiser teacher, int teacherSteps) {
        this.denoiser = denoiser;
        this.sampling = sampling;
        this.name = name;
        this.batch = batch;
        this.teacher = teacher;
        this.teacherSteps = teacherSteps;
    }

    /** Opens {@code model} (diffusers folder or single file) and checks the settings against it. */
    public static PipelineGenerator open(Path model, Sampling sampling, int batch) {
        return open(model, Pipeline.Options.DEFAULT, sampling, batch, Denoiser.Layers.DENSE);
    }

    /** As above, loaded with {@code options} (LoRAs, another VAE). */
    public static PipelineGenerator open(Path model, Pipeline.Options options, Sampling sampling, int batch) {
        return open(model, options, sampling, batch, Denoiser.Layers.DENSE);
    }

    /** As above, the model's layers built by {@code layers} (simulated int8 activations). */
    public static PipelineGenerator open(Path model, Pipeline.Options options, Sampling sampling, int batch, Denoiser.Layers layers) {
        Denoiser d = Denoiser.load(model, options, layers);
        try {
            PipelineGenerator g = new PipelineGenerator(d, sampling, d.modelName(), batch, null, 0);
            GenerateRequest probe = g.request(new EvalPlan.Job(0, 0, "probe", 0));
            d.start(probe); // every setting checked against the model before the first batch
            return g;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    /**
     * This model as the device side of a hybrid run: {@code teacher} denoises the first {@code steps} steps of every
     * job, this model the rest (the teacher must share its latent space: a one-line error otherwise).
     */
    public PipelineGenerator withTeacher(Path teacherModel, int steps) {
        if (steps < 0 || steps > sampling.steps()) throw new IllegalArgumentException("--hybrid-steps must be in 0.." + sampling.steps() + ", got " + steps);
        Denoiser t = Denoiser.load(teacherModel, Pipeline.Options.DEFAULT);
        try {
            LocalSplit.check(t, denoiser);
            t.latentShape(request(new EvalPlan.Job(0, 0, "", 0)));
            return new PipelineGenerator(denoiser, sampling, name + " after " + steps + " steps of " + t.modelName(), batch, t, steps);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /** UNet seconds of one image's teacher steps and student steps ({0, all} without a teacher). */
    public double[] unetSeconds(EvalPlan.Job job) {
        if (teacher == null) {
            DenoiseSession s = denoiser.start(request(job));
            denoiser.run(List.of(s), null);
            return new double[]{0, java.util.Arrays.stream(s.stepSeconds()).sum()};
        }
        LocalSplit.Result r = LocalSplit.run(teacher, denoiser, List.of(request(job)), teacherSteps);
        return new double[]{r.teacherUnetSeconds(), r.studentUnetSeconds()};
    }

    GenerateRequest request(EvalPlan.Job job) {
        return new GenerateRequest(job.prompt(), sampling.negativePrompt(), sampling.steps(), sampling.cfg(),
                sampling.cfgMaxTimestep(), sampling.scheduler(), job.seed(), sampling.width(), sampling.height(), null, null, 1f,
                sampling.speedUps());
    }

    /** [channels, height, width] of this model's latents at the evaluation size. */
    public int[] latentShape() {
        return denoiser.latentShape(request(new EvalPlan.Job(0, 0, "", 0)));
    }

    @Override
    public List<FeatureMap> generate(List<EvalPlan.Job> jobs) {
        List<DenoiseSession> sessions;
        if (teacher != null) {
            sessions = LocalSplit.run(teacher, denoiser, jobs.stream().map(this::request).toList(), teacherSteps).sessions();
        } else {
            sessions = new ArrayList<>(jobs.size());
            for (EvalPlan.Job j : jobs) sessions.add(denoiser.start(request(j)));
            denoiser.run(sessions, null);
        }
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
        if (teacher != null) teacher.close();
    }
}
