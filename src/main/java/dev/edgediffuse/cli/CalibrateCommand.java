package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.data.CalibrationPrompts;
import dev.edgediffuse.pipeline.GenerateRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/** edgediffuse calibrate: the UNet's layer inputs over the model's own sampling, for every calibrated pass. */
@Command(name = "calibrate", sortOptions = false,
        description = "record the inputs of every UNet layer over the model's own sampling (both guidance halves, every step) "
                + "for sensitivity, automatic mixed precision, GPTQ, low-rank layers and 8-bit activations",
        footer = {"%nWrites <calibration>/calibration.safetensors atomically. A killed run leaves its state in calibration.safetensors.partial "
                + "there (saved every --checkpoint-seconds); run the same command again and it continues from it to the same file."})
final class CalibrateCommand extends CliCommand {
    @Mixin
    private ModelOption model;

    @Mixin
    private CalibrationOption calibration;

    @Option(names = "--prompts", paramLabel = "SET|FILE", description = "mini (the eval's templates and held-out prompts), general "
            + "(64 everyday prompts) or a file of one prompt per line (default: mini for the built-in Mini models, else general)")
    private String prompts;

    @Option(names = "--count", paramLabel = "N", description = "prompts to use, spread evenly over the set (default: 64 for mini, 8 for general and files)")
    private Integer count;

    @Mixin
    private SamplingOptions sampling;

    @Option(names = "--width", paramLabel = "PX", description = "image width (default: the model's native size)")
    private Integer width;

    @Option(names = "--height", paramLabel = "PX", description = "image height (default: the model's native size)")
    private Integer height;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "16", description = "prompts denoised together (default ${DEFAULT-VALUE})")
    private int batch;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1000000000", description = "prompt i uses seed N+i (default ${DEFAULT-VALUE}, "
            + "apart from eval's seeds)")
    private long seed;

    @Option(names = "--hessian-block", paramLabel = "B", defaultValue = "512", description = "GPTQ Hessians are kept as diagonal "
            + "blocks of B columns (a multiple of 128): memory K*B doubles per layer (default ${DEFAULT-VALUE})")
    private int hessianBlock;

    @Option(names = "--keep-steps", paramLabel = "S", defaultValue = "8", description = "steps, spread over the schedule, whose whole "
            + "UNet calls are kept for sensitivity (default ${DEFAULT-VALUE})")
    private int keepSteps;

    @Option(names = "--keep-prompts", paramLabel = "P", defaultValue = "16", description = "prompts whose rows of those calls are kept "
            + "(both guidance halves; default ${DEFAULT-VALUE})")
    private int keepPrompts;

    @Option(names = "--checkpoint-seconds", paramLabel = "S", defaultValue = "300", description = "save the run's state every S "
            + "seconds to calibration.safetensors.partial, from which a killed run continues (default ${DEFAULT-VALUE})")
    private double checkpointSeconds;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--quiet", description = "no progress on stderr")
    private boolean quiet;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        threads.apply();
        if (batch < 1) throw new UsageException("--batch must be >= 1, got " + batch);
        if (hessianBlock < 128 || hessianBlock % 128 != 0) throw new UsageException("--hessian-block must be a positive multiple of 128, got " + hessianBlock);
        if (keepSteps < 1 || keepPrompts < 1) throw new UsageException("--keep-steps and --keep-prompts must be >= 1");
        Path modelPath = model.path(err);
        SamplingDefaults defaults = SamplingDefaults.forModel(modelPath);
        int steps = sampling.steps(defaults);
        if (steps < 1 || steps > 1000) throw new UsageException("--steps must be in [1, 1000], got " + steps);
        String set = prompts != null ? prompts : modelPath.getFileName().toString().contains("mini") ? "mini" : "general";
        List<String> all;
        try {
            all = CalibrationPrompts.named(set);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        int n = count != null ? count : set.equals("mini") ? 64 : 8;
        if (n < 1 || n > all.size()) throw new UsageException("--count must be in [1, " + all.size() + "] for --prompts " + set + ", got " + n);
        if (!(checkpointSeconds >= 0)) throw new UsageException("--checkpoint-seconds must be >= 0, got " + checkpointSeconds);
        if (width != null && width < 8 || height != null && height < 8) throw new UsageException("--width and --height must be >= 8");
        Path file = calibration.dir(modelPath).resolve(Calibration.FILE);
        var settings = new Calibration.Settings(sampling.scheduler(defaults), steps, sampling.cfg(defaults), sampling.cfgMaxTimestep(defaults),
                width == null ? 0 : width, height == null ? 0 : height, seed, batch, hessianBlock, keepSteps, keepPrompts, set);
        OutputFiles.outputOfLongRun(file);
        long t0 = System.nanoTime();
        try (Checkpoint cp = Checkpoint.open(modelPath, null)) {
            cp.unet.config(); // opened: a bad folder fails here, before any work
            Calibration.collect(cp, settings, CalibrationPrompts.spread(all, n), file, file.resolveSibling(Calibration.FILE + ".partial"),
                    quiet ? null : err, checkpointSeconds);
        }
        out.printf("wrote %s in %.1f s (%d prompts, %s, %d steps, cfg %s%s)%n", file, (System.nanoTime() - t0) / 1e9, n,
                settings.scheduler(), steps, settings.cfg(), settings.cfgMaxTimestep() < GenerateRequest.ALL_TIMESTEPS
                        ? " at t <= " + settings.cfgMaxTimestep() : "");
        return 0;
    }
}
