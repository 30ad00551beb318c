package dev.edgediffuse.cli;

/** Runs the CLI in-process for tests outside this package (GenerateCommandTest.run with a public face). */
public final class MainRunner {
    public record Run(int code, String out, String err) {}

    private MainRunner() {}

    public static Run run(String... args) {
        GenerateCommandTest.Run r = GenerateCommandTest.run(args);
        return new Run(r.code(), r.out(), r.err());
    }
}
