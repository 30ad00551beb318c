package dev.edgediffuse.distill;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.data.ImageFolder;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.prune.PrunePlan;
import dev.edgediffuse.prune.UNetMacs;
import dev.edgediffuse.scheduler.NoiseSchedule;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import dev.edgediffuse.train.LatentDataset;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import dev.edgediffuse.train.TrainingLoop;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Knowledge distillation of a pruned student from its teacher (BK-SDM): the student is pruned from the teacher by
 * the recipe's plan (or given as a folder), written once to the work folder as {@code student-init/} (a rerun reuses
 * it: pruning scores are not recomputed), then trained by the resumable {@link TrainingLoop} on the teacher's latents of
 * the data with {@link DistillObjective}. The result is the teacher's model folder with the student's UNet (its EMA
 * weights): same text encoder, VAE, scheduler and tokenizer, so student and teacher share a latent space.
 */
public final class Distillation {
    private final DistillRecipe recipe;
    private final Path out, work, studentFrom;
    private final String teacherName;
    private final PrintStream log;
    private long stopAfter = Long.MAX_VALUE;

    /**
     * @param teacher     overrides the recipe's teacher (a folder, file or built-in name), or null
     * @param studentFrom a pruned model folder to start from instead of the recipe's pruning plan, or null
     */
    public Distillation(DistillRecipe recipe, Path out, Path work, String teacher, Path studentFrom, PrintStream log) {
        this.recipe = recipe;
        this.out = out;
        this.work = work;
        this.teacherName = teacher != null ? teacher : recipe.teacher();
        this.studentFrom = studentFrom;
        this.log = log;
    }

    /** For tests of resumption: stop (as if killed) once this many steps are done; the model is then not written. */
    public void stopAfter(long steps) {
        stopAfter = steps;
    }

    /** Runs (or resumes) the distillation; returns false when stopped early by {@link #stopAfter}. */
    public boolean run() throws IOException {
        Path teacherPath = BuiltInModel.resolve(teacherName, log);
        Files.createDirectories(work);
        try (Checkpoint teacher = Checkpoint.open(teacherPath, null)) {
            Path init = studentInit(teacher);
            try (Checkpoint start = Checkpoint.open(init, null)) {
                return train(teacher, start, teacherPath);
            }
        }
    }

    /** The pruned student's folder in the work folder, made on the first run. */
    private Path studentInit(Checkpoint teacher) throws IOException {
        Path init = work.resolve("student-init");
        if (Files.isDirectory(init)) {
            log.println("distill: student from " + init + " (pruned on an earlier run)");
            return init;
        }
        Map<String, Object> report;
        if (studentFrom != null) {
            try (Checkpoint given = Checkpoint.open(studentFrom, null)) {
                new CheckpointWriter(null).writeFolder(teacher.withUnet(given.unet), init);
                report = Map.of("student_from", studentFrom.toString());
            }
        } else {
            PrunePlan.Result pruned = recipe.student().run(teacher, log);
            new CheckpointWriter(null).writeFolder(pruned.model(), init);
            report = pruned.report();
        }
        AtomicFiles.write(work.resolve("student-init.json"), Json.write(report).getBytes(StandardCharsets.UTF_8));
        return init;
    }

    private boolean train(Checkpoint teacher, Checkpoint start, Path teacherPath) throws IOException {
        Config sc = start.unet.config(), tc = teacher.unet.config();
        if (sc.getInt("in_channels", 4) != tc.getInt("in_channels", 4) || sc.getInt("cross_attention_dim") != tc.getInt("cross_attention_dim")) {
            throw new ModelFormatException(start.origin + ": the student's UNet takes other latents or text states than the teacher's");
        }
        Map<String, String> pairs = FeaturePairs.of(sc, tc);
        Parameters student = parameters(start.unet);
        UNet2DConditionModel studentUnet = new UNet2DConditionModel(sc, student.weights("student unet"));
        UNet2DConditionModel teacherUnet = new UNet2DConditionModel(tc, teacher.unet.weights());
        ClipTextModel text = new ClipTextModel(teacher.text.config(), teacher.text.weights());
        ClipTokenizer tokenizer = teacher.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(teacher.tokenizerDir);
        if (!(ImageAutoencoder.create(teacher.vae.config(), teacher.vae.weights()) instanceof AutoencoderKL vae)) {
            throw new ModelFormatException(teacherPath + ": distillation encodes its data with an AutoencoderKL, this teacher's VAE is not one");
        }
        int size = tc.getInt("sample_size", 64) * vae.downscale();
        Data data = data(vae, size);
        LatentDataset latents = data.latents.toUnet(LatentScaling.ofVae(teacher.vae.config(), vae.latentChannels()));
        float[] alphas = NoiseSchedule.of(teacher.schedulerConfig).alphasCumprod();
        var stage = recipe.distill();
        var w = recipe.loss();
        long teacherMacs = UNetMacs.of(tc), studentMacs = UNetMacs.of(sc);
        log.printf(java.util.Locale.ROOT, "distill: student UNet %,d parameters, %.1f%% of the teacher's MACs; %d steps of %d latents; "
                        + "loss %.2f task + %.2f output KD + %.2f feature KD over %d block pairs%s%n", student.count(),
                100.0 * studentMacs / teacherMacs, stage.steps(), stage.batch(), w.task(), w.output(), w.feature(), pairs.size(),
                stage.minSnrGamma() > 0 ? ", task term Min-SNR-" + stage.minSnrGamma() : "");
        TrainingLoop loop = new TrainingLoop("distill", student, stage.settings(recipe.checkpointSeconds()), work, log);
        loop.stopAfter(stopAfter);
        long t0 = System.nanoTime();
        boolean done = loop.run(new DistillObjective(studentUnet, teacherUnet, text, tokenizer, latents, data.captions, pairs, alphas,
                stage.batch(), stage.captionDropout(), stage.minSnrGamma(), w, recipe.seed()));
        if (!done) return false;
        student.copyFrom(loop.emaWeights());
        write(teacher, start, student, teacherPath, (System.nanoTime() - t0) / 60e9, studentMacs / (double) teacherMacs);
        return true;
    }

    private record Data(LatentDataset latents, BiFunction<Integer, Rng, String> captions) {}

    /** Fashion-MNIST (its folder of idx files) with its varied captions, or a folder of captioned images. */
    private Data data(AutoencoderKL vae, int size) {
        Path dir = recipe.data();
        if (isFashionMnist(dir)) {
            FashionMnist train = FashionMnist.train(dir);
            if (recipe.images() > 0 && recipe.images() < train.count()) train = new FashionMnist(train.pixels(), train.labels(), recipe.images());
            int[] labels = train.labels();
            return new Data(LatentDataset.encode(vae, train, 1f, log), (i, rng) -> Captions.random(labels[i], rng::nextInt));
        }
        ImageFolder folder = ImageFolder.open(dir);
        int n = recipe.images() > 0 ? Math.min(recipe.images(), folder.count()) : folder.count();
        log.printf("distill: %d captioned images from %s at %dx%d%n", n, dir, size, size);
        return new Data(LatentDataset.encode(vae, n, (s, c) -> folder.images(s, c, size), 1f, log), (i, rng) -> folder.caption(i));
    }

    static boolean isFashionMnist(Path dir) {
        return Files.isRegularFile(dir.resolve("train-labels-idx1-ubyte")) || Files.isRegularFile(dir.resolve("train-labels-idx1-ubyte.gz"));
    }

    /** The student's UNet tensors as trainable parameters (in the order the model lists them). */
    private static Parameters parameters(Component unet) {
        Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(unet.config()), new Rng(0));
        for (String name : p.names()) {
            ModelTensor t = unet.tensors().get(name);
            if (t == null) throw new ModelFormatException(unet.source() + ": tensor " + name + " is missing");
            float[] v = t.get().toFloats(), dst = p.get(name);
            if (v.length != dst.length) throw new ModelFormatException(unet.source() + ": tensor " + name + " has the wrong size");
            System.arraycopy(v, 0, dst, 0, v.length);
        }
        return p;
    }

    /** The teacher's folder with the student's UNet, its provenance in recipe.json; appears whole, by one rename. */
    private void write(Checkpoint teacher, Checkpoint start, Parameters student, Path teacherPath, double minutes, double macsShare)
            throws IOException {
        DType dtype = recipe.dtype().equals("f32") ? DType.F32 : DType.F16;
        Map<String, ModelTensor> tensors = new LinkedHashMap<>();
        for (String name : student.names()) {
            int[] shape = student.shapes().get(name);
            float[] v = student.get(name);
            tensors.put(name, ModelTensor.of(Weight.of(name, dtype, v, shape)));
        }
        Component unet = start.unet.withTensors(tensors, "distilled " + recipe.name());
        Checkpoint model = teacher.withUnet(unet).withName(out.getFileName().toString())
                .withSamplingDefaults(recipe.samplingDefaults() != null ? recipe.samplingDefaults() : teacher.samplingDefaults);
        Path abs = out.toAbsolutePath(), tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        deleteTree(tmp);
        new CheckpointWriter(null).writeFolder(model, tmp);
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("name", recipe.name());
        provenance.put("teacher", teacherPath.toString());
        provenance.put("seed", recipe.seed());
        provenance.put("unet_macs_share_of_teacher", macsShare);
        Path initReport = work.resolve("student-init.json");
        if (Files.isRegularFile(initReport)) provenance.put("student", Json.parseObject(Files.readString(initReport), initReport.toString()));
        provenance.put("loss", Map.of("task", recipe.loss().task(), "output", recipe.loss().output(), "feature", recipe.loss().feature()));
        provenance.put("distill", recipe.distill().toJson());
        provenance.put("minutes", Math.round(minutes * 10) / 10.0);
        AtomicFiles.write(tmp.resolve("recipe.json"), Json.write(provenance).getBytes(StandardCharsets.UTF_8));
        if (Files.exists(abs)) {
            Path old = abs.resolveSibling(abs.getFileName() + ".old");
            deleteTree(old);
            Files.move(abs, old);
            Files.move(tmp, abs);
            deleteTree(old);
        } else {
            Files.move(tmp, abs);
        }
        log.println("wrote " + out);
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
