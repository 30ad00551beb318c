package dev.edgediffuse.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.util.concurrent.Callable;

/**
 * What every subcommand shares: --help, and the streams {@link Main#run} was given. A new command is a subclass with
 * its options (shared ones as mixins: {@link ModelOption}, {@link LoadOptions}, {@link SamplingOptions}, ...) and
 * {@link #run}, listed in {@link Main}'s subcommands.
 */
abstract class CliCommand implements Callable<Integer> {
    @ParentCommand
    private Main main;

    @Spec
    CommandSpec spec;

    // --help alone, no -h: picocli would read a value such as --prompt "-hot dog" as that short option
    @Option(names = "--help", usageHelp = true, order = Integer.MAX_VALUE, description = "Show this help and exit.")
    private boolean help;

    @Override
    public final Integer call() throws IOException {
        return run(main.out, main.err);
    }

    /** Runs the command on the parsed options; returns the exit code. */
    abstract int run(PrintStream out, PrintStream err) throws IOException;
}
