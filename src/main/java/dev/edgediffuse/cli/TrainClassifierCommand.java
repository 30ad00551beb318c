package dev.edgediffuse.cli;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.train.ClassifierTrainer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** edgediffuse train-classifier: trains the Fashion-MNIST classifier that {@code edgediffuse eval} measures with. */
final class TrainClassifierCommand {
    static final String HELP = """
            usage: edgediffuse train-classifier --out DIR [options]
              --out DIR          folder to write: config.json, model.safetensors, train.log
              --data DIR         Fashion-MNIST idx files (default /usr/share/datasets/fashion-mnist)
              --config FILE      classifier config.json (default: the built-in architecture)
              --epochs N         passes over the training set (default 6)
              --batch N          images per step (default 128)
              --lr X             peak learning rate (default 0.003)
              --seed N           initialization, shuffling and augmentation seed (default 1)
              --limit N          train on the first N images only (quick runs)
              --test-limit N     measure on the first N test images only (quick runs)
              --shift N          random shifts of up to N pixels (default 1; 0: none)
              --dtype f16|f32|bf16  stored weight type (default f16)
              --threads N        worker threads (default: all cores)
              --quiet            no progress bar""";

    private TrainClassifierCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, Set.of("--out", "--data", "--config", "--epochs", "--batch", "--lr", "--seed", "--limit", "--dtype",
                "--threads", "--test-limit", "--shift"), Set.of("--quiet"));
        if (!a.has("--out")) throw new Args.UsageException("--out is required");
        if (a.has("--threads")) dev.edgediffuse.kernels.Parallel.setThreads(a.getInt("--threads", 1));
        FashionClassifierConfig config = a.has("--config")
                ? FashionClassifierConfig.from(Config.read(a.path("--config"))) : FashionClassifierConfig.defaults();
        ClassifierTrainer.Settings d = ClassifierTrainer.Settings.defaults();
        int batch = a.getInt("--batch", d.batch());
        if (batch < 1) throw new Args.UsageException("--batch must be >= 1, got " + batch);
        int limit = a.getInt("--limit", 0);
        if (limit < 0 || (a.has("--limit") && limit < batch)) {
            throw new Args.UsageException("--limit must be at least --batch (" + batch + "), got " + limit);
        }
        double lr = d.lr();
        if (a.has("--lr")) {
            try {
                lr = Double.parseDouble(a.get("--lr", "").trim());
            } catch (NumberFormatException e) {
                throw new Args.UsageException("--lr must be a number, got '" + a.get("--lr", "") + "'");
            }
        }
        if (!(lr > 0)) throw new Args.UsageException("--lr must be > 0, got " + lr);
        int epochs = a.getInt("--epochs", d.epochs());
        if (epochs < 1) throw new Args.UsageException("--epochs must be >= 1, got " + epochs);
        DType dtype = switch (a.get("--dtype", "f16").toLowerCase(Locale.ROOT)) {
            case "f16" -> DType.F16;
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            default -> throw new Args.UsageException("--dtype must be f16, f32 or bf16, got '" + a.get("--dtype", "") + "'");
        };
        int testLimit = a.getInt("--test-limit", 0), shift = a.getInt("--shift", d.maxShift());
        if (testLimit < 0) throw new Args.UsageException("--test-limit must be >= 0, got " + testLimit);
        if (shift < 0 || shift > 8) throw new Args.UsageException("--shift must be in [0, 8], got " + shift);
        ClassifierTrainer.Settings s = new ClassifierTrainer.Settings(epochs, batch, lr, d.weightDecay(),
                d.warmupSteps(), d.labelSmoothing(), d.ema(), shift, d.flips(), a.getLong("--seed", d.seed()), limit, testLimit, dtype);
        Path data = a.has("--data") ? a.path("--data") : FashionMnist.DEFAULT_DIR;
        FashionMnist train = FashionMnist.train(data), test = FashionMnist.test(data);
        try {
            ClassifierTrainer.Result r = new ClassifierTrainer(config, s, out, a.has("--quiet") ? null : err).train(train, test, a.path("--out"));
            out.printf("wrote %s: test accuracy %.2f%% (%d images), %.1f min wall, %.1f CPU min%n", a.path("--out"), 100 * r.finalAccuracy(),
                    testLimit > 0 ? Math.min(testLimit, test.count()) : test.count(), r.seconds() / 60, r.cpuSeconds() / 60);
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
