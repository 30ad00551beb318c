package dev.edgediffuse.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * docs/cli-reference.md is every command's {@code --help}, so the documented options cannot drift from the real ones.
 * After changing an option, rewrite it with {@code mvn test -Dtest=CliReferenceTest -Dedgediffuse.record=true}.
 */
class CliReferenceTest {
    private static final Path REFERENCE = Path.of("docs/cli-reference.md");

    @Test
    void theReferenceIsEveryCommandsHelp() throws IOException {
        String expected = render();
        if (Boolean.getBoolean("edgediffuse.record")) Files.writeString(REFERENCE, expected, StandardCharsets.UTF_8);
        assertEquals(expected, Files.readString(REFERENCE, StandardCharsets.UTF_8),
                REFERENCE + " is stale: rewrite it with -Dedgediffuse.record=true (see this test's comment)");
    }

    static String render() {
        PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        CommandLine root = Main.commandLine(sink, sink);
        StringBuilder b = new StringBuilder("""
                # Command reference

                Every command's `--help`, as the program prints it (generated: `CliReferenceTest` fails when this page and
                the options differ). The guide to the commands is [cli.md](cli.md).

                """);
        for (String name : root.getSubcommands().keySet()) b.append("- [`").append(name).append("`](#").append(name).append(")\n");
        b.append("\n```\n").append(root.getUsageMessage(CommandLine.Help.Ansi.OFF).strip()).append("\n```\n");
        root.getSubcommands().forEach((name, cmd) -> b.append("\n## ").append(name).append("\n\n```\n")
                .append(cmd.getUsageMessage(CommandLine.Help.Ansi.OFF).strip()).append("\n```\n"));
        return b.toString();
    }
}
