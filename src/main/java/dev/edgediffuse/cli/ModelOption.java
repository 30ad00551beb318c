package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Iterator;

/** --model for the commands that run one text-to-image model: a folder, a file or a built-in model's name. */
final class ModelOption {
    @Option(names = "--model", paramLabel = "DIR|FILE|NAME", defaultValue = BuiltInModel.DEFAULT, completionCandidates = BuiltInNames.class,
            description = "diffusers folder, single-file .safetensors, or a built-in model: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE})")
    private String model;

    /** The model's path; a built-in model is unpacked on first use (logged to {@code log}). */
    Path path(PrintStream log) {
        return BuiltInModel.resolve(model, log);
    }

    /** The built-in models' names, for help texts and shell completion. */
    static final class BuiltInNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return BuiltInModel.names().iterator();
        }
    }
}
