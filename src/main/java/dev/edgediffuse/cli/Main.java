package dev.edgediffuse.cli;

import dev.edgediffuse.format.ModelFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.MissingParameterException;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;

/**
 * The edgediffuse command line: one subcommand per job, each a {@link CliCommand} listed below; errors are one line
 * on stderr and a non-zero exit.
 */
@Command(name = "edgediffuse", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Stable Diffusion on the CPU, in pure Java.", commandListHeading = "%nCommands:%n",
        footer = "%nedgediffuse <command> --help shows the command's options.",
        subcommands = {GenerateCommand.class, MakeRandomCommand.class, ConvertCommand.class, CalibrateCommand.class, SensitivityCommand.class,
                BenchCommand.class, ServeCommand.class, LoadtestCommand.class, GridCommand.class, TrainCommand.class, TrainLoraCommand.class,
                TrainClassifierCommand.class, EvalCommand.class, PruneCommand.class, DistillCommand.class, DistillVaeCommand.class,
                DistillLcmCommand.class, QatCommand.class, CompressCommand.class, CompletionCommand.class})
public final class Main implements Callable<Integer> {
    final PrintStream out, err;

    @Spec
    private CommandSpec spec;

    private Main(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] argv) {
        System.exit(run(argv, System.out, System.err));
    }

    /** Runs a command and returns its exit code: 0 ok, 1 failed, 2 bad usage. */
    public static int run(String[] argv, PrintStream out, PrintStream err) {
        CommandLine cli = commandLine(out, err);
        try {
            return cli.execute(argv);
        } catch (OutOfMemoryError e) {
            err.println(commandName(cli.getParseResult()) + ": error: out of memory (raise -Xmx via EDGEDIFFUSE_JAVA_OPTS or use a smaller size)");
            return 1;
        }
    }

    /** The whole command tree, writing to these streams. */
    static CommandLine commandLine(PrintStream out, PrintStream err) {
        return new CommandLine(new Main(out, err))
                .setOut(new PrintWriter(out, true))
                .setErr(new PrintWriter(err, true))
                .setUsageHelpWidth(100)
                .setOverwrittenOptionsAllowed(true) // a later --steps 4 wins over an earlier --steps 3
                .setParameterExceptionHandler(Main::usageError)
                .setExecutionExceptionHandler(Main::failure);
    }

    /** No command given: the list of commands, as a usage error. */
    @Override
    public Integer call() {
        spec.commandLine().usage(err);
        return 2;
    }

    /** A parse error, as one line naming the option (with the nearest option for a typo), exit code 2. */
    private static int usageError(ParameterException e, String[] argv) {
        CommandLine cmd = e.getCommandLine();
        String name = cmd.getCommandSpec().qualifiedName(), message = e.getMessage(), hint = " (see " + name + " --help)";
        // picocli checks for required options before it reports unknown ones, but a misspelt --modle is the news
        ParameterException problem = e instanceof MissingParameterException && !cmd.getUnmatchedArguments().isEmpty()
                ? new UnmatchedArgumentException(cmd, cmd.getUnmatchedArguments()) : e;
        if (problem instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String arg = u.getUnmatched().getFirst();
            message = arg.startsWith("-") ? "unknown option " + arg.split("=", 2)[0]
                    : cmd.getSubcommands().isEmpty() ? "unexpected argument '" + arg + "'" : "unknown command '" + arg + "'";
            if (!u.getSuggestions().isEmpty()) hint = " (did you mean " + u.getSuggestions().getFirst() + "?)";
        } else if (problem instanceof MissingParameterException m) {
            message = missing(m.getMissing(), Arrays.asList(argv));
        } else if (problem.getCause() instanceof TypeConversionException t && problem.getArgSpec() instanceof OptionSpec o) {
            message = o.longestName() + " must be " + expected(o, t) + ", got '" + problem.getValue() + "'";
        }
        cmd.getErr().println(name + ": " + message + hint);
        return 2;
    }

    /** "--out is required", or "--steps needs a value" when the option was given without one. */
    private static String missing(List<ArgSpec> specs, List<String> argv) {
        List<String> names = specs.stream().map(s -> s instanceof OptionSpec o ? o.longestName() : s.paramLabel()).toList();
        if (argv.contains(names.getFirst())) return names.getFirst() + " needs a value";
        if (names.size() == 1) return names.getFirst() + " is required";
        return String.join(", ", names.subList(0, names.size() - 1)) + " and " + names.getLast() + " are required";
    }

    private static String expected(OptionSpec o, TypeConversionException e) {
        Class<?> type = o.auxiliaryTypes()[0]; // the element type of an array or list option
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class) return "an integer";
        if (type == float.class || type == Float.class || type == double.class || type == Double.class) return "a number";
        return e.getMessage();
    }

    /** A failure while running: one line, exit code 1 (2 for a {@link UsageException}); anything else is a bug. */
    private static int failure(Exception e, CommandLine cmd, ParseResult parsed) throws Exception {
        String name = cmd.getCommandSpec().qualifiedName();
        if (e instanceof UsageException) {
            cmd.getErr().println(name + ": " + e.getMessage() + " (see " + name + " --help)");
            return 2;
        }
        String why = switch (e) {
            case IllegalArgumentException _, ModelFormatException _, IllegalStateException _, IOException _ -> e.getMessage();
            case UncheckedIOException u -> u.getCause().getMessage();
            default -> throw e;
        };
        cmd.getErr().println(name + ": error: " + why);
        return 1;
    }

    private static String commandName(ParseResult parsed) {
        if (parsed == null) return "edgediffuse";
        while (parsed.hasSubcommand()) parsed = parsed.subcommand();
        return parsed.commandSpec().qualifiedName();
    }

    /** The version Maven wrote into the jar; a build run from its class folders has none. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties pom = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("/META-INF/maven/dev.edgediffuse/edgediffuse/pom.properties")) {
                if (in != null) pom.load(in);
            }
            return new String[]{"edgediffuse " + pom.getProperty("version", "(development build)")};
        }
    }
}
