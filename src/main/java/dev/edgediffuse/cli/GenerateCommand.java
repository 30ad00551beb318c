package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Pipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;

/** edgediffuse generate: prompt → PNG with its settings in a "parameters" text chunk. */
@Command(name = "generate", sortOptions = false, description = "prompt → PNG (txt2img, or img2img with --init-image)")
final class GenerateCommand extends CliCommand {
    @Option(names = "--prompt", paramLabel = "TEXT", required = true, description = "what the image should show")
    String prompt;

    @Mixin
    ModelOption model;

    @Mixin
    LoadOptions load;

    @Mixin
    ActivationsOption activations;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    SpeedUpOptions speedUps;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "noise seed (default ${DEFAULT-VALUE})")
    long seed;

    @Mixin
    SizeOptions size;

    @Option(names = "--init-latents", paramLabel = "F.npy", description = "start from these latents (NCHW float32) instead of seeded noise")
    Path initLatents;

    @Option(names = "--save-latents", paramLabel = "F.npy", description = "write the final latents (NCHW float32)")
    Path saveLatents;

    @Option(names = "--init-image", paramLabel = "F.png", description = "img2img source image (its size must match --width/--height)")
    Path initImage;

    @Option(names = "--strength", paramLabel = "X", defaultValue = "0.75", description = "img2img denoising strength in (0, 1] (default ${DEFAULT-VALUE})")
    float strength;

    @Mixin
    ThreadsOption threads;

    @Option(names = "--out", paramLabel = "FILE.png", defaultValue = "out.png", description = "output image (default ${DEFAULT-VALUE})")
    Path outPath;

    @Option(names = "--quiet", description = "no progress bar")
    boolean quiet;

    @Mixin
    HybridOptions hybrid;

    /** The request the options ask for; what they leave out comes from the model's sampling defaults. */
    GenerateRequest request(int modelSize, int steps, SamplingDefaults d) {
        return new GenerateRequest(prompt, sampling.negativePrompt(), steps, sampling.cfg(d), sampling.cfgMaxTimestep(d),
                sampling.scheduler(d), seed, size.width(modelSize), size.height(modelSize),
                initLatents != null ? Npy.read(initLatents).data() : null, initImage != null ? Images.read(initImage, GenerateRequest.MAX_SIDE) : null, strength,
                speedUps.speedUps(d, steps, sampling.scheduler(d)));
    }

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        size.check();
        sampling.check();
        OutputFiles.png("--out", outPath);
        OutputFiles.writable(saveLatents);
        threads.apply();
        Path modelPath = model.path(err);
        if (hybrid.requested()) return hybrid.generate(this, modelPath, out, err);

        try (Pipeline p = Pipeline.load(modelPath, load.options(), activations.layers(modelPath))) {
            GenerateRequest req = request(p.defaultImageSize(), sampling.steps(p.samplingDefaults()), p.samplingDefaults());
            GenerateResult r = p.generate(req, quiet ? null : err);
            if (saveLatents != null) Npy.write(saveLatents, r.latentsNchw(), r.latentShape());
            Png.write(outPath, Images.toRgb(r.image(), 0), r.image().width(), r.image().height(), Map.of("parameters", req.parametersText(p.modelName())));
            out.println("wrote " + outPath + " (" + r.image().width() + "x" + r.image().height() + ")");
            err.println(r.timings().summary());
            return 0;
        }
    }
}
