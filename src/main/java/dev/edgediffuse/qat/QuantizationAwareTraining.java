package dev.edgediffuse.qat;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.ModelIdentity;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.data.ImageFolder;
import dev.edgediffuse.distill.DistillObjective;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.ImageAutoencoder;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.scheduler.NoiseSchedule;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import dev.edgediffuse.train.LatentDataset;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import dev.edgediffuse.train.TrainingLoop;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Quantization-aware training of a UNet with its float original as teacher (NNCF / optimum-intel's recipe): every
 * layer the runtime would quantize ({@link FormatPlan}'s decisions for the format, default keep list included) runs
 * on fake-quantized weights (and, for A8, inputs) through {@link QatPolicy}; the scales start where the runtime's
 * quantizer (or the calibration's ranges) put them and train with the weights, or alone. The loss is
 * {@link DistillObjective}'s task + output-distillation terms on the teacher's latents of the data; the resumable
 * {@link TrainingLoop} keeps an EMA of the weights only. The result is written by {@link QatExport} in the runtime's
 * quantized formats, with no fake quantization left.
 */
public final class QuantizationAwareTraining {
    private final QatRecipe recipe;
    private final Path out, work;
    private final String teacherName, modelName;
    private final PrintStream log;
    private long stopAfter = Long.MAX_VALUE;

    /** {@code teacher}, {@code model}: override the recipe's (a folder, file or built-in name), or null. */
    public QuantizationAwareTraining(QatRecipe recipe, Path out, Path work, String teacher, String model, PrintStream log) {
        this.recipe = recipe;
        this.out = out;
        this.work = work;
        this.teacherName = teacher != null ? teacher : recipe.teacher();
        this.modelName = model != null ? model : recipe.model();
        this.log = log;
    }

    /** For tests of resumption: stop (as if killed) once this many steps are done; the model is then not written. */
    public void stopAfter(long steps) {
        stopAfter = steps;
    }

    /** The trainable state: the UNet's weights and the quantizers, by layer path. */
    public record State(Parameters weights, Parameters quantizers, Map<String, WeightQuantizer> weightQuantizers,
                        Map<String, ActivationQuantizer> inputQuantizers) {
        public QatPolicy policy() {
            return new QatPolicy(weightQuantizers, inputQuantizers);
        }

        /** The fake-quantized UNet on these weights and scales. */
        public UNet2DConditionModel unet(Config config) {
            QatPolicy p = policy();
            UNet2DConditionModel u = new UNet2DConditionModel(config, weights.weights("qat unet").withPolicy(p));
            if (!p.unused().isEmpty()) {
                throw new IllegalStateException("layers to quantize that the UNet does not build through its layer seam: " + p.unused());
            }
            return u;
        }
    }

    /** Runs (or resumes) the training; returns false when stopped early by {@link #stopAfter}. */
    public boolean run() throws IOException {
        Path teacherPath = BuiltInModel.resolve(teacherName, log);
        Path modelPath = modelName == null ? teacherPath : BuiltInModel.resolve(modelName, log);
        Files.createDirectories(work);
        try (Checkpoint teacher = Checkpoint.open(teacherPath, null);
             Checkpoint start = modelPath.equals(teacherPath) ? null : Checkpoint.open(modelPath, null)) {
            Checkpoint model = start != null ? start : teacher;
            if (!sameShapes(model.unet.config(), teacher.unet.config())) {
                throw new ModelFormatException("teacher " + teacherPath + " has another UNet architecture than the model " + modelPath
                        + " (quantization-aware training needs the float original of the same architecture)");
            }
            State state = state(model.unet, recipe, ranges(teacher, teacherPath));
            return train(teacher, model, state, teacherPath);
        }
    }

    private static boolean sameShapes(Config a, Config b) {
        Map<String, int[]> x = RandomCheckpoint.unetTensors(a), y = RandomCheckpoint.unetTensors(b);
        if (!x.keySet().equals(y.keySet())) return false;
        for (Map.Entry<String, int[]> e : x.entrySet()) if (!java.util.Arrays.equals(e.getValue(), y.get(e.getKey()))) return false;
        return true;
    }

    /** The calibrated input ranges of the teacher's UNet layers, for A8; null for float activations. */
    private Map<String, ActivationRanges.Range> ranges(Checkpoint teacher, Path teacherPath) {
        if (!recipe.int8Activations()) return null;
        Path file = recipe.calibration() != null ? recipe.calibration() : Calibration.defaultDir(teacherPath).resolve(Calibration.FILE);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException("int8 activations need the teacher's calibration: no " + file + " (run edgediffuse calibrate --model "
                    + teacherName + ", or give the recipe's \"calibration\")");
        }
        try (Calibration c = Calibration.open(file)) {
            if (!c.identity.equals(ModelIdentity.of(teacher))) {
                throw new ModelFormatException(file + ": calibration of another model (" + c.modelName + "), not of the teacher " + teacherPath);
            }
            Map<String, ActivationRanges.Range> m = new LinkedHashMap<>();
            for (Calibration.Layer l : c.layers().values()) m.put(l.path, new ActivationRanges.Range(Math.min(l.min, 0f), Math.max(l.max, 0f)));
            return m;
        }
    }

    /**
     * The starting state of {@code unet}: its tensors as parameters, a weight quantizer on every layer the format
     * quantizes (scales chosen as the runtime's quantizer does), and with {@code ranges} an input quantizer on each.
     */
    public static State state(Component unet, QatRecipe recipe, Map<String, ActivationRanges.Range> ranges) {
        Parameters weights = parameters(unet);
        Parameters quantizers = new Parameters();
        Map<String, WeightQuantizer> wq = new LinkedHashMap<>();
        Map<String, ActivationQuantizer> aq = new LinkedHashMap<>();
        FormatPlan plan = new FormatPlan(recipe.weights(), java.util.List.of(), true);
        for (String name : weights.names()) {
            int[] shape = weights.shapes().get(name);
            float[] v = weights.get(name);
            if (!name.endsWith(".weight") || !plan.decide("unet/" + name, Weight.ofFloats(name, v, shape)).format().quantized()) continue;
            String path = name.substring(0, name.length() - ".weight".length());
            WeightQuantizer q = WeightQuantizer.init(v, shape, recipe.weights(), recipe.clip());
            wq.put(path, q);
            quantizers.put("qat." + path + ".scales", new int[]{q.groups()}, q.scales());
            if (ranges != null) {
                ActivationRanges.Range r = ranges.get(path);
                if (r == null) throw new ModelFormatException("the calibration has no input range for layer " + path);
                float[] range = {r.min(), r.max()};
                aq.put(path, new ActivationQuantizer(range));
                quantizers.put("qat." + path + ".input_range", new int[]{2}, range);
            }
        }
        if (wq.isEmpty()) throw new ModelFormatException(unet.source() + ": no UNet layer can be stored as " + recipe.weights().formatName());
        return new State(weights, quantizers, wq, aq);
    }

    private boolean train(Checkpoint teacher, Checkpoint model, State state, Path teacherPath) throws IOException {
        Config tc = teacher.unet.config();
        UNet2DConditionModel student = state.unet(model.unet.config());
        UNet2DConditionModel teacherUnet = new UNet2DConditionModel(tc, teacher.unet.weights());
        ClipTextModel text = new ClipTextModel(teacher.text.config(), teacher.text.weights());
        ClipTokenizer tokenizer = teacher.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(teacher.tokenizerDir);
        if (!(ImageAutoencoder.create(teacher.vae.config(), teacher.vae.weights()) instanceof AutoencoderKL vae)) {
            throw new ModelFormatException(teacherPath + ": training encodes its data with an AutoencoderKL, this teacher's VAE is not one");
        }
        int size = tc.getInt("sample_size", 64) * vae.downscale();
        BiFunction<Integer, Rng, String>[] captions = new BiFunction[1];
        LatentDataset latents = data(vae, size, captions).toUnet(LatentScaling.ofVae(teacher.vae.config(), vae.latentChannels()));
        float[] alphas = NoiseSchedule.of(teacher.schedulerConfig).alphasCumprod();
        var stage = recipe.stage();
        Parameters trained = new Parameters();
        if (recipe.trainWeights()) state.weights().names().forEach(n -> trained.put(n, state.weights().shapes().get(n), state.weights().get(n)));
        state.quantizers().names().forEach(n -> trained.put(n, state.quantizers().shapes().get(n), state.quantizers().get(n)));
        log.printf(java.util.Locale.ROOT, "qat: %s, %d layers quantized%s%s, %s trained (%,d values); %d steps of %d latents; loss %.2f task + %.2f output KD%n",
                recipe.label(), state.weightQuantizers().size(), state.inputQuantizers().isEmpty() ? "" : " with 8-bit inputs",
                recipe.tome() == null ? "" : ", token merging " + recipe.tome().ratio() + " in the student",
                recipe.trainWeights() ? "weights and scales" : "scales", trained.count(), stage.steps(), stage.batch(),
                recipe.taskWeight(), recipe.outputWeight());
        // the EMA averages the weights only (the quantizers' scales and ranges are used as trained); nothing when they are frozen
        Parameters averaged = recipe.trainWeights() ? state.weights() : new Parameters();
        TrainingLoop loop = new TrainingLoop("qat", trained, averaged, stage.settings(recipe.checkpointSeconds(), true), work, log);
        loop.stopAfter(stopAfter);
        long t0 = System.nanoTime();
        boolean done = loop.run(new DistillObjective(student, teacherUnet, text, tokenizer, latents, captions[0], Map.of(), alphas,
                stage.batch(), stage.captionDropout(), stage.minSnrGamma(), new DistillObjective.Weights(recipe.taskWeight(), recipe.outputWeight(), 0),
                recipe.seed()).mergingStudentTokens(recipe.tome()));
        if (!done) return false;
        if (recipe.trainWeights()) state.weights().copyFrom(loop.emaWeights());
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("name", recipe.name());
        provenance.put("teacher", teacherPath.toString());
        provenance.put("format", recipe.label());
        provenance.put("trained", recipe.trainWeights() ? "weights and scales" : "scales");
        provenance.put("clip", recipe.clip().name().toLowerCase(java.util.Locale.ROOT));
        provenance.put("seed", recipe.seed());
        provenance.put("loss", Map.of("task", recipe.taskWeight(), "output", recipe.outputWeight()));
        provenance.put("qat", stage.toJson());
        if (recipe.tome() != null) provenance.put("tome", Map.of("ratio", recipe.tome().ratio(), "max_downsample", recipe.tome().maxDownsample()));
        provenance.put("minutes", Math.round((System.nanoTime() - t0) / 6e9) / 10.0);
        QatExport.write(model.withName(out.getFileName().toString()), state, recipe.dtype(), provenance, out);
        log.println("wrote " + out);
        return true;
    }

    /** Fashion-MNIST (its folder of idx files) with its varied captions, or a folder of captioned images. */
    private LatentDataset data(AutoencoderKL vae, int size, BiFunction<Integer, Rng, String>[] captions) {
        Path dir = recipe.data();
        if (Files.isRegularFile(dir.resolve("train-labels-idx1-ubyte")) || Files.isRegularFile(dir.resolve("train-labels-idx1-ubyte.gz"))) {
            FashionMnist train = FashionMnist.train(dir);
            if (recipe.images() > 0 && recipe.images() < train.count()) train = new FashionMnist(train.pixels(), train.labels(), recipe.images());
            int[] labels = train.labels();
            captions[0] = (i, rng) -> Captions.random(labels[i], rng::nextInt);
            return LatentDataset.encode(vae, train, 1f, log);
        }
        ImageFolder folder = ImageFolder.open(dir);
        int n = recipe.images() > 0 ? Math.min(recipe.images(), folder.count()) : folder.count();
        captions[0] = (i, rng) -> folder.caption(i);
        return LatentDataset.encode(vae, n, (s, c) -> folder.images(s, c, size), 1f, log);
    }

    /** The UNet's tensors as parameters (in the order the model lists them). */
    static Parameters parameters(Component unet) {
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
}
