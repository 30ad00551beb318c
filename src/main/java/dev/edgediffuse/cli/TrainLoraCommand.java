package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.data.ImageFolder;
import dev.edgediffuse.lora.LoraTargets;
import dev.edgediffuse.train.LoraTraining;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/** edgediffuse train-lora: a LoRA on a folder of captioned images, the model frozen (also a quantized one); resumable. */
@Command(name = "train-lora", sortOptions = false,
        description = "train a LoRA (kohya format) on a folder of images with .txt captions; the model stays frozen, also when 4-bit; a rerun resumes")
final class TrainLoraCommand extends CliCommand {
    @Mixin
    private ModelOption model;

    @Option(names = "--data", paramLabel = "DIR", required = true, description = "images (.png/.jpg), each with a .txt caption of the same name")
    private Path data;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "the LoRA .safetensors to write")
    private Path outFile;

    @Option(names = "--work", paramLabel = "DIR", description = "checkpoint and log; a rerun resumes from here (default: OUT.work)")
    private Path workDir;

    @Option(names = "--rank", paramLabel = "N", defaultValue = "8", description = "LoRA rank (default ${DEFAULT-VALUE})")
    private int rank;

    @Option(names = "--alpha", paramLabel = "X", description = "LoRA alpha; the branch is scaled by alpha/rank (default: the rank)")
    private Float alpha;

    @Option(names = "--target", paramLabel = "SET", defaultValue = LoraTargets.DEFAULT, description = "UNet layers: transformer "
            + "(attention, proj_in/out, feed-forward), attention, all (also ResNet and sampler convs: LoCon), or globs *attn2*,... (default ${DEFAULT-VALUE})")
    private String target;

    @Option(names = "--text-encoder", description = "also train a LoRA on the text encoder's attention and MLP layers")
    private boolean textEncoder;

    @Option(names = "--no-new-words", description = "do not learn embeddings for caption words the model has never seen (zero embedding rows)")
    private boolean noNewWords;

    @Option(names = "--word-lr", paramLabel = "X", description = "learning rate of the new words' embeddings (default: 10 x --lr)")
    private Double wordLr;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "1500", description = "optimization steps (default ${DEFAULT-VALUE})")
    private long steps;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "16", description = "images per step (default ${DEFAULT-VALUE})")
    private int batch;

    @Option(names = "--lr", paramLabel = "X", defaultValue = "1e-3", description = "peak learning rate, warm-up then cosine (default ${DEFAULT-VALUE})")
    private double lr;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "50", description = "warm-up steps (default ${DEFAULT-VALUE})")
    private long warmup;

    @Option(names = "--ema", paramLabel = "X", defaultValue = "0.99", description = "EMA decay of the saved factors; 0: the last step's (default ${DEFAULT-VALUE})")
    private double ema;

    @Option(names = "--caption-dropout", paramLabel = "X", defaultValue = "0", description = "share of captions dropped to the empty prompt (default ${DEFAULT-VALUE})")
    private double captionDropout;

    @Option(names = "--min-snr-gamma", paramLabel = "X", defaultValue = "5", description = "Min-SNR loss weighting; 0: off (default ${DEFAULT-VALUE})")
    private double minSnrGamma;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "initialization, batches and noise (default ${DEFAULT-VALUE})")
    private long seed;

    @Option(names = "--checkpoint-seconds", paramLabel = "S", defaultValue = "120", description = "checkpoint interval (default ${DEFAULT-VALUE})")
    private int checkpointSeconds;

    @Mixin
    private DTypeOption dtype;

    @Mixin
    private ThreadsOption threads;

    @Override
    int run(PrintStream out, PrintStream err) throws IOException {
        threads.apply();
        if (checkpointSeconds < 0) throw new UsageException("--checkpoint-seconds must be >= 0");
        Path modelPath = model.path(err);
        Path work = workDir != null ? workDir : outFile.resolveSibling(outFile.getFileName() + ".work");
        OutputFiles.outputOfLongRun(outFile);
        var settings = new LoraTraining.Settings(rank, alpha != null ? alpha : rank, target, textEncoder, !noNewWords, wordLr != null ? wordLr : 10 * lr, steps, batch, lr,
                warmup, 0.0, ema, captionDropout, minSnrGamma, seed, checkpointSeconds, dtype.dtype());
        try (Checkpoint cp = Checkpoint.open(modelPath, null)) {
            ImageFolder images = ImageFolder.open(data);
            out.printf("train-lora: %s, %d images from %s%n", cp.name, images.count(), data);
            LoraTraining.Result r = new LoraTraining(cp, images, settings, outFile, work, out).run();
            out.printf(Locale.ROOT, "trained %s: %,d parameters (%.2f%% of the UNet), %d layers, %.1f min%n", outFile, r.parameters(),
                    100.0 * r.parameters() / r.unetParameters(), r.layers(), r.seconds() / 60);
        }
        return 0;
    }
}
