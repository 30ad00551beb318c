package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/** edgediffuse make-random: a random-weight checkpoint of a real architecture, for tests and benchmarks. */
@Command(name = "make-random", sortOptions = false,
        description = "write a random-weight checkpoint of a real architecture (diffusers folder or single file)")
final class MakeRandomCommand extends CliCommand {
    @Option(names = "--out", paramLabel = "PATH", required = true, description = "the folder or file to write")
    private Path outPath;

    @Option(names = "--config", paramLabel = "NAME|DIR", defaultValue = "tiny", description = "tiny | mini | sd15 | a folder of component configs (default ${DEFAULT-VALUE})")
    private String config;

    @Mixin
    private DTypeOption dtype;

    @Option(names = "--layout", paramLabel = "L", defaultValue = "diffusers",
            description = "diffusers (a folder) | single (one original-layout .safetensors) (default ${DEFAULT-VALUE})")
    private String layout;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "(default ${DEFAULT-VALUE})")
    private long seed;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        ModelConfigs configs = ModelConfigs.resolve(config);
        DType type = dtype.dtype();
        long t0 = System.nanoTime();
        switch (layout) {
            case "diffusers" -> RandomCheckpoint.writeFolder(outPath, configs, type, seed);
            case "single" -> RandomCheckpoint.writeSingleFile(outPath, configs, type, seed);
            default -> throw new UsageException("--layout must be diffusers or single");
        }
        out.printf("wrote %s in %.1f s%n", outPath, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
