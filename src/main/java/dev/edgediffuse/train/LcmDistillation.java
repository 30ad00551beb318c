package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.lora.Adapters;
import dev.edgediffuse.lora.KohyaWriter;
import dev.edgediffuse.lora.LoraPolicy;
import dev.edgediffuse.lora.LoraTargets;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.scheduler.NoiseSchedule;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code distill-lcm}: a few-step latent consistency model from a teacher ({@link ConsistencyObjective}), on the
 * teacher's own training data (Fashion-MNIST latents from its VAE, captions drawn as the teacher's were). Full mode
 * writes a diffusers folder whose UNet has {@code time_cond_proj_dim} (initialised as the teacher with
 * {@code time_embedding.cond_proj} at zero, so the student starts as the teacher) and the recipe's sampling defaults
 * (LCM, a few steps); the weights are the EMA target network's. LoRA mode writes a kohya LCM-LoRA for the teacher.
 * Resumes from its checkpoint in the work folder; nothing is written until the run is done.
 */
public final class LcmDistillation {
    private final LcmRecipe recipe;
    private final Checkpoint teacher;
    private final Path out, workDir;
    private final PrintStream log;
    private long stopAfter = Long.MAX_VALUE;

    public LcmDistillation(LcmRecipe recipe, Checkpoint teacher, Path out, Path workDir, PrintStream log) {
        this.recipe = recipe;
        this.teacher = teacher;
        this.out = out;
        this.workDir = workDir;
        this.log = log;
    }

    /** For tests of resumption: stop (as if killed) after this many steps; nothing is written then. */
    void stopAfter(long steps) {
        stopAfter = steps;
    }

    /** Returns the optimization's wall seconds, or -1 when stopped early. */
    public double run() throws IOException {
        Files.createDirectories(workDir);
        DType dtype = switch (recipe.dtype()) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("recipe dtype must be f32 or f16, got " + recipe.dtype());
        };
        ClipTokenizer tokenizer = teacher.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(teacher.tokenizerDir);
        FashionMnist train = FashionMnist.train(recipe.data());
        if (recipe.images() > 0 && recipe.images() < train.count()) train = new FashionMnist(train.pixels(), train.labels(), recipe.images());
        AutoencoderKL vae = new AutoencoderKL(teacher.vae.config(), teacher.vae.weights());
        LatentDataset latents = LatentDataset.encode(vae, train, 1f, log).toUnet(LatentScaling.ofVae(teacher.vae.config(), vae.latentChannels()));
        ClipTextModel text = new ClipTextModel(teacher.text.config(), teacher.text.weights());
        UNet2DConditionModel teacherUnet = new UNet2DConditionModel(teacher.unet.config(), teacher.unet.weights());
        float[] alphas = NoiseSchedule.of(teacher.schedulerConfig).alphasCumprod();
        int[] labels = train.labels();
        DiffusionObjective.CaptionSource captions = (i, rng) -> Captions.random(labels[i], rng::nextInt);
        var settings = new ConsistencyObjective.Settings(recipe.ddimTimesteps(), recipe.wMin(), recipe.wMax(), recipe.guidanceMaxTimestep(),
                recipe.huberC(), recipe.distill().batch(), recipe.seed());
        Recipe.Stage d = recipe.distill();
        log.printf(Locale.ROOT, "distill-lcm (%s): teacher %s, %d latents, %d steps of %d, lr %.2e, w in [%s, %s] (CFG %s to %s) guided at t <= %d, "
                        + "DDIM skip %d, Huber c %s%n", recipe.mode(), teacher.name, latents.count(), d.steps(), d.batch(), d.lr(), recipe.wMin(),
                recipe.wMax(), recipe.wMin() + 1, recipe.wMax() + 1, recipe.guidanceMaxTimestep(), 1000 / recipe.ddimTimesteps(), recipe.huberC());
        return recipe.lora() ? distillLora(text, tokenizer, latents, captions, alphas, settings, teacherUnet, dtype)
                : distillFull(text, tokenizer, latents, captions, alphas, settings, teacherUnet, dtype);
    }

    private double distillFull(ClipTextModel text, ClipTokenizer tokenizer, LatentDataset latents, DiffusionObjective.CaptionSource captions,
                               float[] alphas, ConsistencyObjective.Settings settings, UNet2DConditionModel teacherUnet, DType dtype) throws IOException {
        Config studentConfig = withValue(teacher.unet.config(), "time_cond_proj_dim", recipe.timeCondProjDim());
        Parameters student = Parameters.initialize(RandomCheckpoint.unetTensors(studentConfig), new Rng(recipe.seed()));
        for (String name : student.names()) {
            float[] v = student.get(name);
            ModelTensor t = teacher.unet.tensors().get(name);
            if (t != null) t.get().copyTo(0, v, 0, v.length);
            else java.util.Arrays.fill(v, 0f); // time_embedding.cond_proj: zero, so the student starts as the teacher
        }
        log.printf("student: %,d parameters (the teacher's and time_embedding.cond_proj %d -> %d at zero)%n", student.count(),
                recipe.timeCondProjDim(), studentConfig.getInts("block_out_channels")[0]);
        TrainingLoop loop = new TrainingLoop("lcm", student, recipe.distill().settings(recipe.checkpointSeconds(), true), workDir, log);
        loop.stopAfter(stopAfter);
        UNet2DConditionModel online = new UNet2DConditionModel(studentConfig, student.weights("student"));
        // the target network reads the loop's EMA arrays in place: EMA (decay = the recipe's ema) of the online student
        UNet2DConditionModel target = new UNet2DConditionModel(studentConfig, loop.emaWeights().weights("target"));
        long t0 = System.nanoTime();
        if (!loop.run(new ConsistencyObjective(online, target, teacherUnet, text, tokenizer, latents, captions, alphas, settings))) return -1;
        double seconds = (System.nanoTime() - t0) / 1e9;
        writeStudent(studentConfig, loop.emaWeights(), dtype, seconds);
        return seconds;
    }

    private double distillLora(ClipTextModel text, ClipTokenizer tokenizer, LatentDataset latents, DiffusionObjective.CaptionSource captions,
                               float[] alphas, ConsistencyObjective.Settings settings, UNet2DConditionModel teacherUnet, DType dtype) throws IOException {
        List<String> layers = LoraTargets.unet(teacher.unet, recipe.loraTarget());
        int rank = recipe.loraRank();
        Rng rng = new Rng(recipe.seed());
        Parameters params = new Parameters();
        Map<String, List<Adapters.Factor>> factors = new LinkedHashMap<>();
        for (String path : layers) {
            int[] w = teacher.unet.tensors().get(path + ".weight").shape();
            int fan = 1;
            for (int k = 1; k < w.length; k++) fan *= w[k];
            String key = LoraTargets.kohyaKey(Component.UNET, path);
            int[] down = w.clone(), up = w.length == 2 ? new int[]{w[0], rank} : new int[]{w[0], rank, 1, 1};
            down[0] = rank;
            float[] dv = new float[rank * fan], uv = new float[w[0] * rank];
            float bound = (float) (1 / Math.sqrt(fan));
            for (int i = 0; i < dv.length; i++) dv[i] = bound * (2f * (float) rng.nextDouble() - 1f);
            params.put(key + ".lora_down.weight", down, dv);
            params.put(key + ".lora_up.weight", up, uv);
            Weight dw = new Weight(key + ".lora_down.weight", DType.F32, down, MemorySegment.ofArray(dv));
            Weight uw = new Weight(key + ".lora_up.weight", DType.F32, new int[]{w[0], rank}, MemorySegment.ofArray(uv));
            factors.put(path, List.of(new Adapters.Factor(dw, uw, recipe.loraAlpha() / rank, key)));
        }
        log.printf("LCM-LoRA: rank %d on %d layers (%s): %,d parameters%n", rank, layers.size(), recipe.loraTarget(), params.count());
        UNet2DConditionModel student = new UNet2DConditionModel(teacher.unet.config(),
                teacher.unet.weights().withPolicy(new LoraPolicy(LayerPolicy.DENSE, factors)));
        TrainingLoop loop = new TrainingLoop("lcm_lora", params, recipe.distill().settings(recipe.checkpointSeconds(), false), workDir, log);
        loop.stopAfter(stopAfter);
        long t0 = System.nanoTime();
        // LCM-LoRA has no separate target network: the student, run without recording, gives its own targets
        if (!loop.run(new ConsistencyObjective(student, student, teacherUnet, text, tokenizer, latents, captions, alphas, settings))) return -1;
        double seconds = (System.nanoTime() - t0) / 1e9;
        Parameters saved = loop.emaWeights();
        List<KohyaWriter.Module> modules = new ArrayList<>();
        for (String path : layers) {
            String key = LoraTargets.kohyaKey(Component.UNET, path), dn = key + ".lora_down.weight", un = key + ".lora_up.weight";
            modules.add(new KohyaWriter.Module(key, saved.get(dn), saved.shapes().get(dn), saved.get(un), saved.shapes().get(un), recipe.loraAlpha()));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("ss_network_module", "networks.lora");
        meta.put("ss_network_dim", Integer.toString(rank));
        meta.put("ss_network_alpha", Float.toString(recipe.loraAlpha()));
        meta.put("ss_sd_model_name", teacher.name);
        meta.put("ss_base_model_version", "sd_v1");
        meta.put("ss_max_train_steps", Long.toString(recipe.distill().steps()));
        meta.put("ss_learning_rate", Double.toString(recipe.distill().lr()));
        meta.put("ss_training_comment", "LCM-LoRA: edgediffuse distill-lcm, " + recipe.name() + "; sample with the lcm scheduler in 2-8 steps, cfg 1");
        meta.put("edgediffuse_recipe", Json.write(recipe.json()));
        meta.put("edgediffuse_distill_steps", Long.toString(recipe.distill().steps()));
        KohyaWriter.write(out, modules, Map.of(), meta, dtype);
        log.printf(Locale.ROOT, "wrote %s (%,d parameters, %.1f min of distillation)%n", out, params.count(), seconds / 60);
        return seconds;
    }

    /** The teacher's folder with the student's UNet (its EMA target weights) and the recipe's sampling defaults. */
    private void writeStudent(Config config, Parameters weights, DType dtype, double seconds) throws IOException {
        Map<String, ModelTensor> tensors = new LinkedHashMap<>();
        for (String name : weights.names()) {
            float[] v = weights.get(name);
            int[] shape = weights.shapes().get(name);
            tensors.put(name, new ModelTensor(name, dtype, shape, () -> stored(name, v, shape, dtype)));
        }
        Checkpoint student = teacher.withUnet(new Component(Component.UNET, config, tensors, "distill-lcm"))
                .withName(recipe.name());
        if (recipe.samplingDefaults() != null) student = student.withSamplingDefaults(recipe.samplingDefaults());
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        AtomicFiles.deleteTree(tmp);
        new CheckpointWriter(null).writeFolder(student, tmp);
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("name", recipe.name());
        provenance.put("teacher", recipe.teacher());
        provenance.put("teacher_model", teacher.name);
        provenance.put("distill_lcm", recipe.json());
        provenance.put("distill_steps", recipe.distill().steps());
        provenance.put("weights", "EMA target network, decay " + recipe.distill().ema());
        AtomicFiles.write(tmp.resolve("recipe.json"), Json.write(provenance).getBytes(StandardCharsets.UTF_8));
        if (Files.exists(out)) { // an earlier result moves aside first, so a failure leaves one whole folder
            Path old = out.resolveSibling(out.getFileName() + ".old");
            AtomicFiles.deleteTree(old);
            Files.move(out, old);
            Files.move(tmp, out);
            AtomicFiles.deleteTree(old);
        } else {
            Files.move(tmp, out);
        }
        log.printf(Locale.ROOT, "wrote %s (%.1f min of distillation)%n", out, seconds / 60);
    }

    private static Weight stored(String name, float[] v, int[] shape, DType dtype) {
        if (dtype == DType.F32) return new Weight(name, DType.F32, shape, MemorySegment.ofArray(v.clone()));
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) h[i] = Float.floatToFloat16(v[i]);
        return new Weight(name, DType.F16, shape, MemorySegment.ofArray(h));
    }

    private static Config withValue(Config c, String key, Object value) {
        Map<String, Object> v = new LinkedHashMap<>(c.values());
        v.put(key, value);
        return new Config(c.source(), v);
    }
}
