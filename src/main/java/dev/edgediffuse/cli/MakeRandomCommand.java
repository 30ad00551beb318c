package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/** edgediffuse make-random: a random-weight checkpoint of a real architecture, for tests and benchmarks. */
final class MakeRandomCommand {
    static final String HELP = """
            usage: edgediffuse make-random --out PATH [options]
              --config NAME|DIR   tiny | sd15 | a folder of component configs (default tiny)
              --dtype D           f32 | f16 | bf16 (default f16)
              --layout L          diffusers (a folder) | single (one original-layout .safetensors) (default diffusers)
              --seed N            (default 0)""";

    private MakeRandomCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, Set.of("--out", "--config", "--dtype", "--layout", "--seed"), Set.of());
        if (!a.has("--out")) throw new Args.UsageException("--out is required");
        ModelConfigs configs = ModelConfigs.resolve(a.get("--config", "tiny"));
        DType dtype = switch (a.get("--dtype", "f16")) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new Args.UsageException("--dtype must be f32, f16 or bf16");
        };
        Path outPath = a.path("--out");
        long t0 = System.nanoTime();
        try {
            switch (a.get("--layout", "diffusers")) {
                case "diffusers" -> RandomCheckpoint.writeFolder(outPath, configs, dtype, a.getLong("--seed", 0));
                case "single" -> RandomCheckpoint.writeSingleFile(outPath, configs, dtype, a.getLong("--seed", 0));
                default -> throw new Args.UsageException("--layout must be diffusers or single");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.printf("wrote %s in %.1f s%n", outPath, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
