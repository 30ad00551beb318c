package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.tensor.FeatureMap;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** edgediffuse grid: one PNG of prompts (rows) × seeds (columns), to see a model at a glance. */
final class GridCommand {
    static final String HELP = """
            usage: edgediffuse grid --out FILE.png [options]
              --model DIR|FILE   default: the built-in EdgeDiffuse-Mini
              --prompts A|B|...  prompts separated by '|' (default: "a photo of a <class>" for the 10 Fashion-MNIST classes)
              --seeds N          columns, seeds 0..N-1 (default 8)
              --steps N --cfg X --cfg-max-timestep T --scheduler S --width W --height H
                                     as for generate (defaults: the model's sampling_defaults.json, as generate)
              --zoom K           nearest-neighbour enlargement of each image (default 2)""";

    private GridCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, Set.of("--out", "--model", "--prompts", "--seeds", "--steps", "--cfg", "--cfg-max-timestep", "--scheduler",
                "--width", "--height", "--zoom"), Set.of());
        if (!a.has("--out")) throw new Args.UsageException("--out is required");
        List<String> prompts = new java.util.ArrayList<>();
        if (a.has("--prompts")) prompts.addAll(Arrays.asList(a.get("--prompts", "").split("\\|")));
        else for (int c = 0; c < FashionMnist.CLASSES.length; c++) prompts.add(Captions.prompt(c));
        int seeds = a.getInt("--seeds", 8), zoom = a.getInt("--zoom", 2);
        if (seeds <= 0 || zoom <= 0) throw new Args.UsageException("--seeds and --zoom must be positive");
        Path model = a.has("--model") ? a.path("--model") : BuiltInModel.path(err);
        try (Pipeline p = Pipeline.load(model)) {
            int size = p.defaultImageSize();
            SamplingDefaults d = p.samplingDefaults();
            GenerateRequest base = GenerateRequest.of("").withSteps(a.getInt("--steps", d.steps())).withCfg(a.getFloat("--cfg", d.cfg()))
                    .withCfgMaxTimestep(a.getInt("--cfg-max-timestep", d.cfgMaxTimestep()))
                    .withScheduler(a.get("--scheduler", d.scheduler())).withSize(a.getInt("--width", size), a.getInt("--height", size));
            int w = base.width() * zoom, h = base.height() * zoom, cols = seeds, rows = prompts.size();
            byte[] grid = new byte[cols * w * rows * h * 3];
            Progress progress = Progress.steps(err, "grid rows", rows);
            for (int r = 0; r < rows; r++) {
                List<GenerateRequest> row = new java.util.ArrayList<>();
                for (int s = 0; s < cols; s++) {
                    row.add(new GenerateRequest(prompts.get(r), base.negativePrompt(), base.steps(), base.cfg(),
                            base.cfgMaxTimestep(), base.scheduler(), s, base.width(), base.height(), null, null, 0.75f));
                }
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
            Png.write(a.path("--out"), grid, cols * w, rows * h, Map.of("parameters", "grid: " + String.join(" | ", prompts)
                    + "; seeds 0.." + (seeds - 1) + "; " + base.steps() + " steps, cfg " + base.cfg()
                    + (base.cfgMaxTimestep() < GenerateRequest.ALL_TIMESTEPS ? " at t <= " + base.cfgMaxTimestep() : "") + ", " + base.scheduler()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.println("wrote " + a.path("--out"));
        return 0;
    }
}
