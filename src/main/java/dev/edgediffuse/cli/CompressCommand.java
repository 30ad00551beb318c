package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.workflow.CompressRecipe;
import dev.edgediffuse.workflow.CompressReport;
import dev.edgediffuse.workflow.ModelFolders;
import dev.edgediffuse.workflow.Workflow;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** edgediffuse compress: a recipe's stages (prune, distill, lcm, lora-merge, calibrate, quantize, speedups) in one run, and its report. */
@Command(name = "compress", sortOptions = false,
        description = "run a compress recipe's stages in order (prune, distill, lcm, lora-merge, calibrate, quantize, speedups), "
                + "each cached in the work folder, and write the model with a report (HTML + JSON) of every stage's size, speed and quality",
        footer = {"%nA killed or re-run recipe continues after its last finished stage; a stage whose settings or input changed runs again,",
                "and so do those after it. The recipe is checked whole (stages, order, data) before anything runs. See docs/compress.md."})
final class CompressCommand extends CliCommand {
    static final String MARKER = "compress.json";

    @Option(names = "--recipe", paramLabel = "FILE", required = true, description = "the recipe (recipes/compress/*.json)")
    private Path recipeFile;

    @Option(names = "--model", paramLabel = "DIR|FILE|NAME", required = true, completionCandidates = ModelOption.BuiltInNames.class,
            description = "the model to compress: a diffusers folder, a .safetensors file or a built-in model: ${COMPLETION-CANDIDATES}")
    private String model;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "the compressed model folder, with "
            + CompressReport.HTML + " and " + CompressReport.JSON + " in it (replaced when it holds an earlier compress result)")
    private Path out;

    @Option(names = "--work", paramLabel = "DIR", description = "the stages' cache and the report's measurements (default: OUT.work)")
    private Path work;

    @Option(names = "--data", paramLabel = "DIR", description = "training data for the distill and lcm stages, instead of their recipes' \"data\"")
    private Path data;

    @Option(names = "--no-report", description = "write the model only")
    private boolean noReport;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--quiet", description = "no progress on stderr")
    private boolean quiet;

    @Override
    int run(PrintStream stdout, PrintStream err) throws IOException {
        CompressRecipe recipe = CompressRecipe.read(recipeFile, data); // every stage, the order and the data: before any work
        if (Files.exists(out) && !Files.isRegularFile(out.resolve(MARKER)) && !isEmptyDir(out)) {
            throw new UsageException("--out " + out + " exists and holds no earlier compress result; choose a new folder");
        }
        threads.apply();
        OutputFiles.outputOfLongRun(out);
        Path in = BuiltInModel.resolve(model, err);
        Path workDir = work != null ? work : out.resolveSibling(out.getFileName() + ".work");
        PrintStream log = quiet ? null : err;
        long t0 = System.nanoTime();
        Workflow.Result result = new Workflow(recipe, workDir, log).run(in);
        String command = "edgediffuse " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
        Path tmp = workDir.resolve("out.part");
        AtomicFiles.deleteTree(tmp);
        ModelFolders.linkTree(result.finalModel(), tmp);
        Map<String, Object> marker = new LinkedHashMap<>();
        marker.put("recipe", recipe.name());
        marker.put("command", command);
        marker.put("input", in.toString());
        marker.put("stages", result.stages().stream().map(s -> s.index() + " " + s.kind() + " " + s.key()).toList());
        AtomicFiles.write(tmp.resolve(MARKER), Json.write(marker).getBytes(StandardCharsets.UTF_8));
        if (!noReport) {
            Map<String, Object> report = CompressReport.write(recipe, result, command, workDir, tmp, log);
            @SuppressWarnings("unchecked") Map<String, Object> h = (Map<String, Object>) report.get("headline");
            stdout.println(h.get("sentence"));
        }
        if (Files.exists(out)) AtomicFiles.deleteTree(out);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.move(tmp, out);
        stdout.printf("wrote %s in %.1f min: %d of %d stages ran (%d cached)%s%n", out, (System.nanoTime() - t0) / 60e9, result.ran(),
                result.stages().size(), result.stages().size() - result.ran(), noReport ? "" : "; report " + out.resolve(CompressReport.HTML));
        return 0;
    }

    private static boolean isEmptyDir(Path p) throws IOException {
        if (!Files.isDirectory(p)) return false;
        try (var s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }
}
