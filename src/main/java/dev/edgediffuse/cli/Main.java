package dev.edgediffuse.cli;

import dev.edgediffuse.format.ModelFormatException;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;

/** The edgediffuse command line: one subcommand per job; errors are one line on stderr and a non-zero exit. */
public final class Main {
    static final String USAGE = """
            usage: edgediffuse <command> [options]

            commands:
              generate     prompt → PNG (txt2img, or img2img with --init-image)
              make-random  write a random-weight checkpoint of a real architecture (diffusers folder or single file)
              convert      a checkpoint's weights in another format: q8, q8_32, q4_32, q4_64 (+z), f16, bf16, f32
              bench        per-stage seconds, GFLOP/s and peak memory at SD1.5 size, against this machine's GEMM ceiling
              serve        HTTP server: hybrid handoffs, A1111 / OpenAI image endpoints
              loadtest     N concurrent clients against a loopback server; throughput and latency percentiles
              grid         a PNG of prompts × seeds from one model
              train        train a text-to-image model from a recipe (recipes/mini.json: EdgeDiffuse-Mini)
              train-classifier  train the Fashion-MNIST classifier that eval measures with
              eval         prompt accuracy, FID and fidelity to a reference of a Fashion-MNIST text-to-image model

            edgediffuse <command> --help shows the command's options.""";

    private Main() {}

    public static void main(String[] argv) {
        System.exit(run(argv, System.out, System.err));
    }

    /** Runs a command and returns its exit code: 0 ok, 1 failed, 2 bad usage. */
    public static int run(String[] argv, PrintStream out, PrintStream err) {
        if (argv.length == 0 || argv[0].equals("--help") || argv[0].equals("-h")) {
            out.println(USAGE);
            return argv.length == 0 ? 2 : 0;
        }
        List<String> rest = Arrays.asList(argv).subList(1, argv.length);
        try {
            return switch (argv[0]) {
                case "generate" -> GenerateCommand.run(rest, out, err);
                case "make-random" -> MakeRandomCommand.run(rest, out, err);
                case "convert" -> ConvertCommand.run(rest, out, err);
                case "bench" -> BenchCommand.run(rest, out, err);
                case "serve" -> ServeCommand.run(rest, out, err);
                case "loadtest" -> LoadtestCommand.run(rest, out, err);
                case "train" -> TrainCommand.run(rest, out, err);
                case "grid" -> GridCommand.run(rest, out, err);
                case "train-classifier" -> TrainClassifierCommand.run(rest, out, err);
                case "eval" -> EvalCommand.run(rest, out, err);
                default -> {
                    err.println("edgediffuse: unknown command '" + argv[0] + "'\n" + USAGE);
                    yield 2;
                }
            };
        } catch (Args.UsageException e) {
            err.println("edgediffuse " + argv[0] + ": " + e.getMessage() + " (see edgediffuse " + argv[0] + " --help)");
            return 2;
        } catch (IllegalArgumentException | ModelFormatException | IllegalStateException e) {
            err.println("edgediffuse " + argv[0] + ": error: " + e.getMessage());
            return 1;
        } catch (UncheckedIOException e) {
            err.println("edgediffuse " + argv[0] + ": error: " + e.getCause().getMessage());
            return 1;
        } catch (OutOfMemoryError e) {
            err.println("edgediffuse " + argv[0] + ": error: out of memory (raise -Xmx via EDGEDIFFUSE_JAVA_OPTS or use a smaller size)");
            return 1;
        }
    }
}
