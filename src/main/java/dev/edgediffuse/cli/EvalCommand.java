package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.eval.EvalPlan;
import dev.edgediffuse.eval.EvalReport;
import dev.edgediffuse.eval.Evaluator;
import dev.edgediffuse.eval.PipelineGenerator;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.pipeline.GenerateRequest;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** edgediffuse eval: prompt accuracy, FID against the test set, latency, and fidelity to a reference model. */
final class EvalCommand {
    static final String HELP = """
            usage: edgediffuse eval [--model DIR|FILE] [options]
              --model DIR|FILE       the text-to-image model to measure (default: the built-in model)
              --reference DIR|FILE   also generate with this model on identical prompts, seeds and initial noise and
                                     report PSNR, SSIM and the share of images whose predicted class changes
              --classifier DIR       Fashion-MNIST classifier (default: the built-in one)
              --data DIR             Fashion-MNIST idx files (default /usr/share/datasets/fashion-mnist)
              --samples N            images to generate, prompts cycling over the 10 classes (default 10000)
              --steps N              denoising steps
              --cfg X                classifier-free guidance scale
              --cfg-max-timestep T   guide only the steps at timesteps <= T of 1000
              --scheduler NAME       ddim | euler | euler_a | dpmpp_2m | dpmpp_2m_karras | lcm
                                     (defaults of these four: the model's sampling_defaults.json, else 20 steps,
                                     CFG 7.5 at all timesteps, euler_a, as generate)
              --negative-prompt TEXT (default empty)
              --seed N               image i uses seed N+i; caption templates are drawn from N (default 0)
              --size N               image width and height (default 32, Fashion-MNIST's padded size)
              --batch N              images denoised together per UNet call (default 16)
              --latency-runs N       single-image generations timed for the latency figure (default 5; 0: none)
              --test-limit N         compare with the first N test images only (quick runs; default all 10000)
              --threads N            worker threads (default: all cores)
              --json FILE            also write the report as JSON
              --grid FILE.png        contact sheet of the first 100 images (rows of one image per class)
              --quiet                no progress bar""";

    private static final Set<String> VALUED = Set.of("--model", "--reference", "--classifier", "--data", "--samples", "--steps",
            "--cfg", "--cfg-max-timestep", "--scheduler", "--negative-prompt", "--seed", "--size", "--batch", "--latency-runs", "--threads", "--json", "--grid", "--test-limit");

    private EvalCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, VALUED, Set.of("--quiet"));
        int samples = a.getInt("--samples", 10000);
        if (samples < 1) throw new Args.UsageException("--samples must be >= 1, got " + samples);
        if (samples > 1_000_000) throw new Args.UsageException("--samples must be <= 1000000, got " + samples);
        Path modelPath = a.has("--model") ? a.path("--model") : BuiltInModel.path(err);
        SamplingDefaults defaults = SamplingDefaults.forModel(modelPath);
        int steps = a.getInt("--steps", defaults.steps());
        if (steps < 1 || steps > 1000) throw new Args.UsageException("--steps must be in [1, 1000], got " + steps);
        float cfg = a.getFloat("--cfg", defaults.cfg());
        if (!Float.isFinite(cfg) || cfg < 0) throw new Args.UsageException("--cfg must be a finite number >= 0, got " + a.get("--cfg", ""));
        int cfgMaxTimestep = a.getInt("--cfg-max-timestep", defaults.cfgMaxTimestep());
        if (cfgMaxTimestep < 0 || cfgMaxTimestep > GenerateRequest.ALL_TIMESTEPS) {
            throw new Args.UsageException("--cfg-max-timestep must be in [0, 1000], got " + cfgMaxTimestep);
        }
        int size = a.getInt("--size", FashionMnist.SIZE);
        if (size < 8 || size % 8 != 0) throw new Args.UsageException("--size must be a positive multiple of 8, got " + size);
        int batch = a.getInt("--batch", 16);
        if (batch < 1) throw new Args.UsageException("--batch must be >= 1, got " + batch);
        int latencyRuns = a.getInt("--latency-runs", 5);
        if (latencyRuns < 0) throw new Args.UsageException("--latency-runs must be >= 0, got " + latencyRuns);
        int testLimit = a.getInt("--test-limit", 0);
        if (testLimit < 0 || (a.has("--test-limit") && testLimit < 2)) throw new Args.UsageException("--test-limit must be >= 2, got " + testLimit);
        long seed = a.getLong("--seed", 0);
        if (a.has("--threads")) dev.edgediffuse.kernels.Parallel.setThreads(a.getInt("--threads", 1));
        String scheduler = a.get("--scheduler", defaults.scheduler());
        String negative = a.get("--negative-prompt", "");

        Path classifierDir = a.has("--classifier") ? a.path("--classifier") : BuiltInModel.FASHION_CLASSIFIER.unpack(null);
        if (!Files.isDirectory(classifierDir)) throw new ModelFormatException(classifierDir + ": classifier folder not found");
        Path data = a.has("--data") ? a.path("--data") : FashionMnist.DEFAULT_DIR;
        Path jsonOut = a.path("--json"), gridOut = a.path("--grid");
        Path refPath = a.path("--reference");

        var sampling = new PipelineGenerator.Sampling(steps, cfg, cfgMaxTimestep, scheduler, negative, size, size);
        FashionMnist test = FashionMnist.test(data), train = FashionMnist.train(data);
        if (testLimit > 0) test = Evaluator.first(test, testLimit);
        try (FashionClassifier classifier = FashionClassifier.load(classifierDir);
             PipelineGenerator model = PipelineGenerator.open(modelPath, sampling, batch);
             PipelineGenerator reference = refPath == null ? null : openReference(refPath, sampling, batch, model)) {
            EvalPlan plan = EvalPlan.of(samples, seed);
            Evaluator evaluator = new Evaluator(classifier, train, test, a.has("--quiet") ? null : err);
            err.printf("eval: %s%s, %d images, %d steps, cfg %s%s, %s, %dx%d, classifier %s%n", model.name(),
                    reference == null ? "" : " vs reference " + reference.name(), samples, steps, cfg,
                    cfgMaxTimestep < GenerateRequest.ALL_TIMESTEPS ? " at t <= " + cfgMaxTimestep : "", scheduler, size, size, classifierDir);
            EvalReport report = evaluator.evaluate(model, reference, plan,
                    new Evaluator.Options(latencyRuns, gridOut == null ? 0 : Math.min(samples, 100)));
            out.print(report.text());
            if (jsonOut != null) {
                Map<String, Object> settings = new LinkedHashMap<>();
                settings.put("model", modelPath.toString());
                settings.put("reference", refPath == null ? null : refPath.toString());
                settings.put("classifier", classifierDir.toString());
                settings.put("samples", samples);
                settings.put("steps", steps);
                settings.put("cfg", (double) cfg);
                settings.put("cfg_max_timestep", cfgMaxTimestep);
                settings.put("scheduler", scheduler);
                settings.put("negative_prompt", negative);
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
                Png.write(gridOut, rgb, wh[0], wh[1], Map.of("parameters", "edgediffuse eval " + String.join(" ", argv)));
                out.println("wrote " + gridOut + " (" + wh[0] + "x" + wh[1] + ")");
            }
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
