package dev.edgediffuse.cli;

import picocli.AutoComplete;
import picocli.CommandLine.Command;

import java.io.PrintStream;

/** edgediffuse completion: a bash completion script for every command and option, from their declarations. */
@Command(name = "completion", description = "print a bash completion script: source <(edgediffuse completion)")
final class CompletionCommand extends CliCommand {
    @Override
    int run(PrintStream out, PrintStream err) {
        out.print(AutoComplete.bash("edgediffuse", spec.root().commandLine()));
        return 0;
    }
}
