package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.server.EdgeServer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The models a server loads, by the names requests use, and how many images it admits and batches. */
final class ServedModels {
    @Option(names = "--model", paramLabel = "[NAME=]MODEL", completionCandidates = ModelOption.BuiltInNames.class,
            description = "a model to serve: a diffusers folder, a .safetensors file or a built-in model (${COMPLETION-CANDIDATES}), "
                    + "named NAME, else after its file, folder or built-in name; repeatable, the first is the default")
    private List<String> specs = List.of();

    @Option(names = "--queue", paramLabel = "N", defaultValue = "16",
            description = "images admitted at once, waiting or running (default ${DEFAULT-VALUE}); beyond: 503 + Retry-After")
    int queue;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "4", description = "requests of one size denoised per UNet call (default ${DEFAULT-VALUE})")
    int maxBatch;

    @Mixin
    private LoraOptions loras;

    boolean given() {
        return !specs.isEmpty();
    }

    /** Name → model path for each --model, or the default built-in model under its own name when none is given. */
    Map<String, Path> paths(PrintStream log) {
        Map<String, Path> m = new LinkedHashMap<>();
        for (String s : specs.isEmpty() ? List.of(BuiltInModel.DEFAULT) : specs) {
            int eq = s.indexOf('=');
            String model = eq < 0 ? s : s.substring(eq + 1);
            String name = eq < 0 ? String.valueOf(Path.of(model).getFileName()).replaceFirst("\\.safetensors$", "") : s.substring(0, eq);
            if (!name.matches("[A-Za-z0-9._-]{1,64}")) throw new UsageException("--model name '" + name + "' must be 1-64 of A-Z a-z 0-9 . _ -");
            if (m.containsKey(name)) throw new UsageException("--model name '" + name + "' given twice");
            m.put(name, BuiltInModel.resolve(model, log));
        }
        return m;
    }

    /** Loads the models, then starts the server (closing what was loaded if anything fails). */
    EdgeServer start(Map<String, Path> paths, EdgeServer.Options o, PrintStream log) {
        Map<String, Denoiser> loaded = new LinkedHashMap<>();
        try {
            // requests name LoRA sets per prompt; run-time branches keep one copy of the base weights for all of them
            Pipeline.Options options = Pipeline.Options.DEFAULT.withLoras(loras.settings(LoraMode.RUNTIME));
            for (var e : paths.entrySet()) loaded.put(e.getKey(), Denoiser.load(e.getValue(), options));
            return EdgeServer.start(loaded, o, log);
        } catch (RuntimeException e) {
            loaded.values().forEach(Denoiser::close);
            throw e;
        }
    }
}
