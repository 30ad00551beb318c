package dev.edgediffuse.cli;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.train.ClassifierTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/** edgediffuse train-classifier: trains the Fashion-MNIST classifier that {@code edgediffuse eval} measures with. */
@Command(name = "train-classifier", sortOptions = false, description = "train the Fashion-MNIST classifier that eval measures with "
        + "(or another 28x28 domain's, from its idx files)")
final class TrainClassifierCommand extends CliCommand {
    private static final ClassifierTrainer.Settings DEFAULTS = ClassifierTrainer.Settings.defaults();

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "folder to write: config.json, model.safetensors, train.log")
    private Path outDir;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST idx files (default ${DEFAULT-VALUE})")
    private Path data = FashionMnist.DEFAULT_DIR;

    @Option(names = "--config", paramLabel = "FILE", description = "classifier config.json (default: the built-in architecture)")
    private Path config;

    @Option(names = "--epochs", paramLabel = "N", description = "passes over the training set (default ${DEFAULT-VALUE})")
    private int epochs = DEFAULTS.epochs();

    @Option(names = "--batch", paramLabel = "N", description = "images per step (default ${DEFAULT-VALUE})")
    private int batch = DEFAULTS.batch();

    @Option(names = "--lr", paramLabel = "X", description = "peak learning rate (default ${DEFAULT-VALUE})")
    private double lr = DEFAULTS.lr();

    @Option(names = "--seed", paramLabel = "N", description = "initialization, shuffling and augmentation seed (default ${DEFAULT-VALUE})")
    private long seed = DEFAULTS.seed();

    @Option(names = "--limit", paramLabel = "N", description = "train on the first N images only (quick runs)")
    private Integer limit;

    @Option(names = "--test-limit", paramLabel = "N", defaultValue = "0", description = "measure on the first N test images only (quick runs)")
    private int testLimit;

    @Option(names = "--shift", paramLabel = "N", description = "random shifts of up to N pixels (default ${DEFAULT-VALUE}; 0: none)")
    private int shift = DEFAULTS.maxShift();

    @Option(names = "--no-flips", description = "no random horizontal flips (digits and text are not mirror-symmetric)")
    private boolean noFlips;

    @Mixin
    private DTypeOption dtype;

    @Mixin
    private ThreadsOption threads;

    @Option(names = "--quiet", description = "no progress bar")
    private boolean quiet;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        threads.apply();
        FashionClassifierConfig architecture = config != null ? FashionClassifierConfig.from(Config.read(config)) : FashionClassifierConfig.defaults();
        if (batch < 1) throw new UsageException("--batch must be >= 1, got " + batch);
        if (limit != null && limit < batch) throw new UsageException("--limit must be at least --batch (" + batch + "), got " + limit);
        if (!(lr > 0)) throw new UsageException("--lr must be > 0, got " + lr);
        if (epochs < 1) throw new UsageException("--epochs must be >= 1, got " + epochs);
        if (testLimit < 0) throw new UsageException("--test-limit must be >= 0, got " + testLimit);
        if (shift < 0 || shift > 8) throw new UsageException("--shift must be in [0, 8], got " + shift);
        ClassifierTrainer.Settings s = new ClassifierTrainer.Settings(epochs, batch, lr, DEFAULTS.weightDecay(), DEFAULTS.warmupSteps(),
                DEFAULTS.labelSmoothing(), DEFAULTS.ema(), shift, DEFAULTS.flips() && !noFlips, seed, limit != null ? limit : 0, testLimit, dtype.dtype());
        FashionMnist train = FashionMnist.train(data), test = FashionMnist.test(data);
        ClassifierTrainer.Result r = new ClassifierTrainer(architecture, s, out, quiet ? null : err).train(train, test, outDir);
        out.printf("wrote %s: test accuracy %.2f%% (%d images), %.1f min wall, %.1f CPU min%n", outDir, 100 * r.finalAccuracy(),
                testLimit > 0 ? Math.min(testLimit, test.count()) : test.count(), r.seconds() / 60, r.cpuSeconds() / 60);
        return 0;
    }
}
