package dev.edgediffuse.cli;

import dev.edgediffuse.cli.GenerateCommandTest.Run;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

import java.util.List;

import static dev.edgediffuse.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** The command line itself, from the option declarations: help, version, completion and one-line usage errors. */
class MainTest {
    private static void assertUsageError(Run r, String expected) {
        assertEquals(2, r.code(), r.err());
        assertEquals(expected, r.err().strip());
        assertTrue(r.out().isEmpty(), r.out());
    }

    @Test
    void topHelpListsEveryCommandOnItsOwnLine() {
        Run r = run("--help");
        assertEquals(0, r.code(), r.err());
        for (String command : Main.commandLine(System.out, System.err).getSubcommands().keySet()) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("  " + command + " ")), command + " in: " + r.out());
        }
        assertTrue(r.out().contains("generate          prompt → PNG"), r.out());
        Run none = run();
        assertEquals(2, none.code());
        assertTrue(none.err().contains("Commands:") && none.out().isEmpty(), none.err());
    }

    @Test
    void everyCommandHasHelpFromItsDeclarations() {
        for (var e : Main.commandLine(System.out, System.err).getSubcommands().entrySet()) {
            Run r = run(e.getKey(), "--help");
            assertEquals(0, r.code(), e.getKey() + ": " + r.err());
            assertTrue(r.out().startsWith("Usage: edgediffuse " + e.getKey()), r.out());
            for (CommandLine.Model.OptionSpec o : e.getValue().getCommandSpec().options()) {
                assertTrue(r.out().contains(o.longestName()), e.getKey() + " help lacks " + o.longestName());
            }
        }
        Run generate = run("generate", "--help");
        assertTrue(generate.out().contains("--model=DIR|FILE|NAME") && generate.out().contains("a built-in model: mini")
                && generate.out().contains("(default mini)"), generate.out());
        assertTrue(generate.out().contains("ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm"), "scheduler names: " + generate.out());
        assertTrue(generate.out().contains("--strength=X") && generate.out().contains("(default 0.75)"), generate.out());
        assertTrue(run("train-classifier", "--help").out().contains("peak learning rate (default 0.003)"), "defaults from the trainer's settings");
    }

    @Test
    void versionComesFromTheBuild() {
        Run r = run("--version");
        assertEquals(0, r.code(), r.err());
        // the jar's Maven properties give the number; the test class path has none
        assertTrue(r.out().strip().matches("edgediffuse (\\d+\\.\\d+\\.\\d+.*|\\(development build\\))"), r.out());
    }

    @Test
    void typosGetTheNearestOptionOrCommand() {
        assertUsageError(run("generate", "--prompt", "x", "--stpes", "3"), "edgediffuse generate: unknown option --stpes (did you mean --steps?)");
        assertUsageError(run("convert", "--modle=a"), "edgediffuse convert: unknown option --modle (did you mean --model?)");
        assertUsageError(run("gnerate"), "edgediffuse: unknown command 'gnerate' (did you mean generate?)");
        assertUsageError(run("generate", "--prompt", "x", "--zzzzzz"), "edgediffuse generate: unknown option --zzzzzz (see edgediffuse generate --help)");
        assertUsageError(run("generate", "--prompt", "x", "extra"), "edgediffuse generate: unexpected argument 'extra' (see edgediffuse generate --help)");
    }

    @Test
    void badValuesNameTheirOption() {
        assertUsageError(run("generate", "--prompt", "x", "--cfg", "lots"),
                "edgediffuse generate: --cfg must be a number, got 'lots' (see edgediffuse generate --help)");
        assertUsageError(run("grid", "--out", "g.png", "--seeds=many"), "edgediffuse grid: --seeds must be an integer, got 'many' (see edgediffuse grid --help)");
        assertUsageError(run("bench", "--sizes", "256,big"), "edgediffuse bench: --sizes must be an integer, got 'big' (see edgediffuse bench --help)");
        assertUsageError(run("generate", "--prompt", "x", "--strength", "half"),
                "edgediffuse generate: --strength must be a number, got 'half' (see edgediffuse generate --help)");
        assertUsageError(run("generate", "--prompt", "x", "--steps"), "edgediffuse generate: --steps needs a value (see edgediffuse generate --help)");
        assertUsageError(run("convert", "--out", "x"), "edgediffuse convert: --model is required (see edgediffuse convert --help)");
        assertUsageError(run("convert", "--out", "x", "--model", "mini"), "edgediffuse convert: --weights is required (or --target-bits/--target-mb) (see edgediffuse convert --help)");
        assertUsageError(run("generate", "--prompt", "x", "--threads", "0"), "edgediffuse generate: --threads must be >= 1, got 0 (see edgediffuse generate --help)");
        assertUsageError(run("grid", "--out", "g.png", "--steps", "2,3"),
                "edgediffuse grid: --steps must be an integer, got '2,3' (K,M is for generate --hybrid) (see edgediffuse grid --help)");
    }

    @Test
    void optionsTakeBothFormsRepeatAndTheLastValueWins() {
        CommandLine cli = Main.commandLine(System.out, System.err);
        ParseResult convert = cli.parseArgs("convert", "--model=m", "--weights", "q8", "--out", "o", "--keep", "a", "--keep=b",
                "--layer", "x=q4", "--layer=y=f16").subcommand();
        assertEquals("m", convert.matchedOptionValue("--model", null));
        assertEquals(List.of("a", "b"), convert.matchedOptionValue("--keep", List.of()));
        assertEquals(List.of("x=q4", "y=f16"), convert.matchedOptionValue("--layer", List.of()));
        ParseResult serve = cli.parseArgs("serve", "--model", "a=x", "--model=mini").subcommand();
        assertEquals(List.of("a=x", "mini"), serve.matchedOptionValue("--model", List.of()));
        ParseResult generate = cli.parseArgs("generate", "--prompt", "-hot dog", "--steps", "3", "--steps=4").subcommand();
        assertEquals("-hot dog", generate.matchedOptionValue("--prompt", null), "a value may start with -");
        assertEquals("4", generate.matchedOptionValue("--steps", null));
    }

    @Test
    void bashCompletionComesFromTheSameDeclarations() {
        Run r = run("completion");
        assertEquals(0, r.code(), r.err());
        String script = r.out();
        assertTrue(script.contains("complete -F _complete_edgediffuse") && script.contains("edgediffuse"), script.substring(0, 300));
        for (String word : List.of("generate", "make-random", "train-classifier", "completion", "--prompt", "--negative-prompt",
                "--weights", "--layer", "--no-default-keep", "dpmpp_2m_karras")) {
            assertTrue(script.contains(word), "the script mentions " + word);
        }
        assertTrue(script.contains("(\"mini\" \"mini-lcm\" \"mini-tiny\") # --model values"), "--model completes the built-in models' names");
    }
}
