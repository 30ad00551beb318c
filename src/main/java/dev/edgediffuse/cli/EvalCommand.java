package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.eval.CachedGenerator;
import dev.edgediffuse.eval.EvalPlan;
import dev.edgediffuse.eval.ImageGenerator;
import dev.edgediffuse.eval.EvalReport;
import dev.edgediffuse.eval.Evaluator;
import dev.edgediffuse.eval.PipelineGenerator;
import dev.edgediffuse.data.HeldOutPrompts;
import dev.edgediffuse.lora.LoraLibrary;
import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** edgediffuse eval: prompt accuracy, FID against the test set, latency, and fidelity to a reference model. */
@Command(name = "eval", sortOptions = false,
        description = "prompt accuracy, FID and fidelity to a reference of a Fashion-MNIST text-to-image model")
final class EvalCommand extends CliCommand {
    @Mixin
    private ModelOption model;

    @Option(names = "--reference", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "also generate with this model on identical prompts, seeds and initial noise and report PSNR, SSIM "
                    + "and the share of images whose predicted class changes")
    private String reference;

    @Option(names = "--vae", paramLabel = "DIR", description = "decode the model's images with this VAE folder (e.g. a tiny "
            + "AutoencoderTiny decoder; on the device side of a hybrid run)")
    private Path vae;

    @Option(names = "--hybrid-teacher", paramLabel = "DIR|FILE|NAME", completionCandidates = ModelOption.BuiltInNames.class,
            description = "hybrid on this machine: this model runs the first --hybrid-steps steps of every image, --model the rest "
                    + "(Hybrid SD's split; they must share a latent space)")
    private String hybridTeacher;

    @Option(names = "--hybrid-steps", paramLabel = "K", description = "hybrid: the teacher's steps, 0 to --steps")
    private Integer hybridSteps;

    @Option(names = "--reference-cache", paramLabel = "DIR", description = "keep the reference's images in DIR and reuse them "
            + "(comparing many variants with one reference generates it once)")
    private Path referenceCache;

    @Option(names = "--cache", paramLabel = "DIR", description = "the same for the model's own images (a model evaluated alone and "
            + "then as another's reference is generated once); needs --latency-runs 0")
    private Path cache;

    @Option(names = "--classifier", paramLabel = "DIR", description = "Fashion-MNIST classifier (default: the built-in one)")
    private Path classifier;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST idx files (default ${DEFAULT-VALUE})")
    private Path data = FashionMnist.DEFAULT_DIR;

    @Option(names = "--prompts", paramLabel = "FILE.tsv", description = "measure only prompt accuracy, on these label<TAB>prompt lines "
            + "(another domain, judged by its own --classifier); no FID, no reference")
    private Path prompts;

    @Mixin
    private LoraOptions loras;

    @Option(names = "--samples", paramLabel = "N", defaultValue = "10000", description = "images to generate, prompts cycling over the 10 classes (default ${DEFAULT-VALUE})")
    private int samples;

    @Option(names = "--held-out", paramLabel = "N", description = "images of the held-out everyday prompts for a second prompt "
            + "accuracy, cycling over the prompts (default: a tenth of --samples; 0: none)")
    private Integer heldOut;

    @Mixin
    private SamplingOptions sampling;

    /** On --model only: a --reference runs unaccelerated, so the fidelity figures say what the speed-ups cost. */
    @Mixin
    private SpeedUpOptions speedUps;

    @Mixin
    private ActivationsOption activations;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "image i uses seed N+i; caption templates are drawn from N (default ${DEFAULT-VALUE})")
    private long seed;

    @Option(names = "--size", paramLabel = "N", description = "image width and height (default ${DEFAULT-VALUE}, Fashion-MNIST's padded size)")
    private int size = FashionMnist.SIZE;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "16", description = "images denoised together per UNet call (default ${DEFAULT-VALUE})")
    private int batch;

    @Option(names = "--latency-runs", paramLabel = "N", defaultValue = "5", description = "single-image generations timed for the latency figure (default ${DEFAULT-VALUE}; 0: none)")
    private int latencyRuns;

    @Option(names = "--test-limit", paramLabel = "N", description = "compare with the first N test images only (quick runs; default all 10000)")
    private Integer testLimit;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the report as JSON")
    private Path jsonOut;

    @Option(names = "--grid", paramLabel = "FILE.png", description = "contact sheet of the first 100 images (rows of one image per class)")
    private Path gridOut;

    @Option(names = "--quiet", description = "no progress bar")
    private boolean quiet;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        if (samples < 1) throw new UsageException("--samples must be >= 1, got " + samples);
        if (samples > 1_000_000) throw new UsageException("--samples must be <= 1000000, got " + samples);
        Path modelPath = model.path(err);
        SamplingDefaults defaults = SamplingDefaults.forModel(modelPath);
        int steps = sampling.steps(defaults);
        if (steps < 1 || steps > 1000) throw new UsageException("--steps must be in [1, 1000], got " + steps);
        float cfg = sampling.cfg(defaults);
        if (!Float.isFinite(cfg) || cfg < 0) throw new UsageException("--cfg must be a finite number >= 0, got " + cfg);
        int cfgMaxTimestep = sampling.cfgMaxTimestep(defaults);
        if (cfgMaxTimestep < 0 || cfgMaxTimestep > GenerateRequest.ALL_TIMESTEPS) {
            throw new UsageException("--cfg-max-timestep must be in [0, 1000], got " + cfgMaxTimestep);
        }
        if (size < 8 || size % 8 != 0) throw new UsageException("--size must be a positive multiple of 8, got " + size);
        if (batch < 1) throw new UsageException("--batch must be >= 1, got " + batch);
        int heldOutImages = heldOut != null ? heldOut : samples / 10;
        if (heldOutImages < 0 || heldOutImages > 1_000_000) throw new UsageException("--held-out must be in [0, 1000000], got " + heldOutImages);
        if (latencyRuns < 0) throw new UsageException("--latency-runs must be >= 0, got " + latencyRuns);
        if (cache != null && latencyRuns > 0) throw new UsageException("--cache reuses images, so it cannot time them: add --latency-runs 0");
        if (testLimit != null && testLimit < 2) throw new UsageException("--test-limit must be >= 2, got " + testLimit);
        if ((hybridTeacher == null) != (hybridSteps == null)) throw new UsageException("--hybrid-teacher and --hybrid-steps go together");
        if (hybridSteps != null && (hybridSteps < 0 || hybridSteps > steps)) {
            throw new UsageException("--hybrid-steps must be in [0, " + steps + "] (--steps), got " + hybridSteps);
        }
        threads.apply();
        String scheduler = sampling.scheduler(defaults);
        Path teacherPath = hybridTeacher == null ? null : BuiltInModel.resolve(hybridTeacher, err);

        Path classifierDir = classifier != null ? classifier : BuiltInModel.FASHION_CLASSIFIER.unpack(null);
        if (!Files.isDirectory(classifierDir)) throw new ModelFormatException(classifierDir + ": classifier folder not found");
        Path refPath = reference == null ? null : BuiltInModel.resolve(reference, err);

        var generation = new PipelineGenerator.Sampling(steps, cfg, cfgMaxTimestep, scheduler, sampling.negativePrompt(), size, size,
                speedUps.speedUps(defaults, steps, scheduler));
        Pipeline.Options load = new Pipeline.Options(null, vae).withLoras(loras.settings(LoraMode.AUTO));
        if (prompts != null) return promptAccuracy(out, err, modelPath, classifierDir, load, generation, steps, cfg, cfgMaxTimestep, scheduler);
        FashionMnist test = FashionMnist.test(data), train = FashionMnist.train(data);
        if (testLimit != null) test = Evaluator.first(test, testLimit);
        try (FashionClassifier judge = FashionClassifier.load(classifierDir);
             PipelineGenerator model = openModel(modelPath, load, teacherPath, generation, activations.layers(modelPath));
             ImageGenerator generator = cache == null ? model : new CachedGenerator(model, cache,
                     imagesKey(modelPath, generation, vae, load.loras(), teacherPath, hybridSteps, activations.mode()));
             PipelineGenerator referenceModel = refPath == null ? null
                     : openReference(refPath, generation.withoutSpeedUps(), batch, model);
             ImageGenerator referenceGenerator = referenceModel == null || referenceCache == null ? referenceModel
                     : new CachedGenerator(referenceModel, referenceCache,
                             imagesKey(refPath, generation.withoutSpeedUps(), null, LoraLibrary.Settings.NONE, null, null, "float"))) {
            Evaluator evaluator = new Evaluator(judge, train, test, quiet ? null : err);
            err.printf("eval: %s%s, %d images, %d steps, cfg %s%s, %s, %dx%d, classifier %s%n", generator.name(),
                    referenceGenerator == null ? "" : " vs reference " + referenceGenerator.name(), samples, steps, cfg,
                    cfgMaxTimestep < GenerateRequest.ALL_TIMESTEPS ? " at t <= " + cfgMaxTimestep : "", scheduler, size, size, classifierDir);
            if (!generation.speedUps().none()) err.println("eval: speed-ups on the model" + generation.speedUps().parametersText());
            EvalReport report = evaluator.evaluate(generator, referenceGenerator, EvalPlan.of(samples, seed),
                    new Evaluator.Options(latencyRuns, gridOut == null ? 0 : Math.min(samples, 100)));
            if (heldOutImages > 0) report = report.withHeldOut(evaluator.accuracy(generator, EvalPlan.heldOut(heldOutImages, seed)));
            out.print(report.text());
            double[] hybridMs = teacherPath == null || latencyRuns == 0 ? null : hybridUnetMs(model, EvalPlan.of(samples, seed));
            if (hybridMs != null) {
                out.printf(java.util.Locale.ROOT, "hybrid: %d of %d steps on %s: teacher UNet %.1f ms, device UNet %.1f ms per image "
                        + "(median of %d single images)%n", hybridSteps, steps, teacherPath, hybridMs[0], hybridMs[1], latencyRuns);
            }
            if (jsonOut != null) {
                Map<String, Object> settings = new LinkedHashMap<>();
                settings.put("vae", vae == null ? null : vae.toString());
                settings.put("hybrid_teacher", teacherPath == null ? null : teacherPath.toString());
                settings.put("hybrid_steps", hybridSteps);
                if (hybridMs != null) {
                    settings.put("hybrid_teacher_unet_ms", hybridMs[0]);
                    settings.put("hybrid_device_unet_ms", hybridMs[1]);
                }
                settings.put("model", modelPath.toString());
                settings.put("reference", refPath == null ? null : refPath.toString());
                settings.put("classifier", classifierDir.toString());
                settings.put("samples", samples);
                settings.put("held_out_images", heldOutImages);
                settings.put("steps", steps);
                settings.put("cfg", (double) cfg);
                settings.put("cfg_max_timestep", cfgMaxTimestep);
                settings.put("scheduler", scheduler);
                settings.put("negative_prompt", sampling.negativePrompt());
                settings.put("speed_ups", generation.speedUps().parametersText().replaceFirst("^, ", ""));
                settings.put("seed", seed);
                settings.put("size", size);
                settings.put("batch", batch);
                settings.put("threads", dev.edgediffuse.kernels.Parallel.threads());
                AtomicFiles.write(jsonOut, report.json(settings).getBytes(StandardCharsets.UTF_8));
                out.println("wrote " + jsonOut);
            }
            if (gridOut != null) {
                int[] wh = new int[2];
                byte[] rgb = report.gridRgb(wh);
                String command = String.join(" ", spec.commandLine().getParseResult().originalArgs());
                Png.write(gridOut, rgb, wh[0], wh[1], Map.of("parameters", "edgediffuse " + command));
                out.println("wrote " + gridOut + " (" + wh[0] + "x" + wh[1] + ")");
            }
            return 0;
        }
    }

    /** The model (with --vae), as the device side of a hybrid run when a teacher is given. */
    private PipelineGenerator openModel(Path modelPath, Pipeline.Options load, Path teacherPath, PipelineGenerator.Sampling generation,
                                        Denoiser.Layers layers) {
        PipelineGenerator g = PipelineGenerator.open(modelPath, load, generation, batch, layers);
        if (teacherPath == null) return g;
        try {
            return g.withTeacher(teacherPath, hybridSteps);
        } catch (RuntimeException e) {
            g.close();
            throw e;
        }
    }

    /** Median UNet milliseconds per image of the teacher's and the device's steps, over --latency-runs single images. */
    private double[] hybridUnetMs(PipelineGenerator g, EvalPlan plan) {
        g.unetSeconds(plan.jobs().getFirst()); // warm-up
        double[][] ms = new double[2][latencyRuns];
        for (int r = 0; r < latencyRuns; r++) {
            double[] s = g.unetSeconds(plan.jobs().get(r % plan.size()));
            ms[0][r] = 1000 * s[0];
            ms[1][r] = 1000 * s[1];
        }
        for (double[] m : ms) Arrays.sort(m);
        return new double[]{ms[0][latencyRuns / 2], ms[1][latencyRuns / 2]};
    }

    /** --prompts: prompt accuracy alone, on another domain's prompts and classifier. */
    private int promptAccuracy(PrintStream out, PrintStream err, Path modelPath, Path classifierDir, Pipeline.Options load,
                               PipelineGenerator.Sampling generation, int steps, float cfg, int cfgMaxTimestep, String scheduler) throws IOException {
        if (reference != null) throw new UsageException("--reference does not apply to --prompts (prompt accuracy only)");
        try (FashionClassifier judge = FashionClassifier.load(classifierDir);
             PipelineGenerator generator = PipelineGenerator.open(modelPath, load, generation, batch)) {
            int classes = judge.config().numClasses();
            EvalPlan plan = EvalPlan.ofPrompts(HeldOutPrompts.read(prompts, classes), samples, seed);
            err.printf("eval: %s, %d images of the prompts in %s, %d steps, cfg %s%s, %s, %dx%d, classifier %s%n", generator.name(), samples,
                    prompts, steps, cfg, cfgMaxTimestep < GenerateRequest.ALL_TIMESTEPS ? " at t <= " + cfgMaxTimestep : "", scheduler, size, size,
                    classifierDir);
            long t0 = System.nanoTime();
            EvalReport.Accuracy a = new Evaluator(judge, null, null, quiet ? null : err).accuracy(generator, plan);
            double seconds = (System.nanoTime() - t0) / 1e9;
            StringBuilder perClass = new StringBuilder();
            for (int c = 0; c < classes; c++) {
                if (a.total()[c] > 0) perClass.append(String.format(java.util.Locale.ROOT, " %d:%.0f%%", c, 100.0 * a.correct()[c] / a.total()[c]));
            }
            out.printf(java.util.Locale.ROOT, "prompt accuracy: %.2f%% of %d images (%s)%nper class:%s%ngeneration: %.1f s, %.1f ms per image%n",
                    100 * a.overall(), samples, prompts.getFileName(), perClass, seconds, 1000 * seconds / samples);
            if (jsonOut != null) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("model", modelPath.toString());
                m.put("loras", loras.settings(LoraMode.AUTO).loras().stream().map(Object::toString).toList());
                m.put("prompts", prompts.toString());
                m.put("classifier", classifierDir.toString());
                m.put("samples", samples);
                m.put("steps", steps);
                m.put("cfg", (double) cfg);
                m.put("cfg_max_timestep", cfgMaxTimestep);
                m.put("scheduler", scheduler);
                m.put("seed", seed);
                m.put("prompt_accuracy", a.overall());
                m.put("correct_per_class", Arrays.stream(a.correct()).boxed().toList());
                m.put("total_per_class", Arrays.stream(a.total()).boxed().toList());
                m.put("seconds", seconds);
                AtomicFiles.write(jsonOut, dev.edgediffuse.format.Json.write(m).getBytes(StandardCharsets.UTF_8));
                out.println("wrote " + jsonOut);
            }
            return 0;
        }
    }

    /**
     * What determines a model's images in an image cache's key: the model and sampling, then only what differs from a
     * plain run (a VAE, LoRAs, a hybrid teacher, int8 activations), so a model cached by {@code --cache} serves later
     * as a {@code --reference-cache} under the same settings.
     */
    static String imagesKey(Path model, PipelineGenerator.Sampling sampling, Path vae, LoraLibrary.Settings loras, Path teacher,
                            Integer hybridSteps, String activations) {
        StringBuilder key = new StringBuilder(model.toAbsolutePath() + " " + sampling);
        if (vae != null) key.append(" vae ").append(vae.toAbsolutePath());
        if (loras != null && (!loras.loras().isEmpty() || loras.dir() != null)) key.append(" loras ").append(loras);
        if (teacher != null) key.append(" hybrid teacher ").append(teacher.toAbsolutePath()).append(" steps ").append(hybridSteps);
        if (!"float".equals(activations)) key.append(" activations ").append(activations);
        return key.append('\n').toString();
    }

    private static PipelineGenerator openReference(Path path, PipelineGenerator.Sampling sampling, int batch, PipelineGenerator model) {
        PipelineGenerator ref = PipelineGenerator.open(path, sampling, batch);
        if (!Arrays.equals(ref.latentShape(), model.latentShape())) {
            ref.close();
            throw new IllegalArgumentException("--reference " + path + " has latents " + Arrays.toString(ref.latentShape())
                    + ", the model " + Arrays.toString(model.latentShape()) + " at this size: initial noise cannot be shared");
        }
        return ref;
    }
}
