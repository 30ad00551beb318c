package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** edgediffuse grid: one PNG of prompts (rows) × seeds (columns), to see a model at a glance. */
@Command(name = "grid", sortOptions = false, description = "a PNG of prompts × seeds from one model")
final class GridCommand extends CliCommand {
    @Option(names = "--out", paramLabel = "FILE.png", required = true, description = "the grid to write")
    private Path outPath;

    @Mixin
    private ModelOption model;

    @Mixin
    private LoadOptions load;

    @Option(names = "--prompts", paramLabel = "A|B|...", description = "prompts (rows) separated by '|' (default: \"a photo of a <class>\" for the 10 Fashion-MNIST classes)")
    private String prompts;

    @Option(names = "--seeds", paramLabel = "N", defaultValue = "8", description = "columns, seeds 0..N-1 (default ${DEFAULT-VALUE})")
    private int seeds;

    @Mixin
    private SamplingOptions sampling;

    @Mixin
    private SpeedUpOptions speedUps;

    @Mixin
    private SizeOptions size;

    @Option(names = "--zoom", paramLabel = "K", defaultValue = "2", description = "nearest-neighbour enlargement of each image (default ${DEFAULT-VALUE})")
    private int zoom;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        List<String> rows = new ArrayList<>();
        if (prompts != null) rows.addAll(Arrays.asList(prompts.split("\\|")));
        else for (int c = 0; c < FashionMnist.CLASSES.length; c++) rows.add(Captions.prompt(c));
        if (seeds <= 0 || zoom <= 0) throw new UsageException("--seeds and --zoom must be positive");
        size.check();
        sampling.check();
        OutputFiles.png("--out", outPath);
        threads.apply();
        try (Pipeline p = Pipeline.load(model.path(err), load.options())) {
            SamplingDefaults d = p.samplingDefaults();
            GenerateRequest base = GenerateRequest.of("").withSteps(sampling.steps(d)).withCfg(sampling.cfg(d))
                    .withCfgMaxTimestep(sampling.cfgMaxTimestep(d)).withScheduler(sampling.scheduler(d))
                    .withNegativePrompt(sampling.negativePrompt())
                    .withSize(size.width(p.defaultImageSize()), size.height(p.defaultImageSize())).withSpeedUps(speedUps.speedUps(d, sampling.steps(d), sampling.scheduler(d)));
            base.validate();
            int w = base.width() * zoom, h = base.height() * zoom, cols = seeds;
            byte[] grid = new byte[Sizes.elements("the grid (--seeds x --zoom x rows)", (long) cols * w, (long) rows.size() * h, 3)];
            Progress progress = Progress.steps(err, "grid rows", rows.size());
            for (int r = 0; r < rows.size(); r++) {
                List<GenerateRequest> row = new ArrayList<>();
                for (int s = 0; s < cols; s++) row.add(base.withPrompt(rows.get(r)).withSeed(s));
                FeatureMap images = p.generateBatch(row);
                for (int s = 0; s < cols; s++) {
                    byte[] rgb = Images.toRgb(images, s);
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                            System.arraycopy(rgb, ((y / zoom) * base.width() + x / zoom) * 3, grid,
                                    (((r * h + y) * cols * w) + s * w + x) * 3, 3);
                }
                progress.step(r + 1);
            }
            Png.write(outPath, grid, cols * w, rows.size() * h, Map.of("parameters", "grid: " + String.join(" | ", rows)
                    + "; seeds 0.." + (seeds - 1) + "; " + base.steps() + " steps, cfg " + base.cfg()
                    + (base.cfgMaxTimestep() < GenerateRequest.ALL_TIMESTEPS ? " at t <= " + base.cfgMaxTimestep() : "") + ", " + base.scheduler()
                    + base.speedUps().parametersText()));
        }
        out.println("wrote " + outPath);
        return 0;
    }
}
