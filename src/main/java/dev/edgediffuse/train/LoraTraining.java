package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.data.ImageFolder;
import dev.edgediffuse.lora.Adapters;
import dev.edgediffuse.lora.KohyaWriter;
import dev.edgediffuse.lora.LoraPolicy;
import dev.edgediffuse.lora.LoraTargets;
import dev.edgediffuse.lora.WordEmbeddings;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Trains a LoRA on a folder of captioned images ({@link ImageFolder}): the model stays frozen — also when its weights
 * are quantized (QLoRA: the 4-bit layers run as they are, gradients reach only the branches) — and only the low-rank
 * factors of the chosen layers learn, on the text-to-image objective the model was trained with (ε-MSE, optional
 * Min-SNR), through the resumable {@link TrainingLoop}. Words of the captions the model has never seen (their token
 * embeddings are zero, as in a model trained on a closed vocabulary like the Mini) get an embedding of their own,
 * learnt alongside and bundled in the file as AUTOMATIC1111 does; without them no layer could tell such words
 * apart. The result is a kohya-format file other SD tools load.
 */
public final class LoraTraining {
    /** What to train and how; {@code ema} 0 saves the last step's factors. */
    public record Settings(int rank, float alpha, String targets, boolean textEncoder, boolean newWords, double wordLr, long steps, int batch,
                           double lr, long warmup, double weightDecay, double ema, double captionDropout, double minSnrGamma,
                           long seed, int checkpointSeconds, DType dtype) {
        void validate() {
            if (rank < 1) throw new IllegalArgumentException("--rank must be >= 1, got " + rank);
            if (!(alpha > 0)) throw new IllegalArgumentException("--alpha must be > 0, got " + alpha);
            if (steps < 1 || batch < 1 || !(lr > 0)) throw new IllegalArgumentException("--steps, --batch and --lr must be positive");
            if (!(wordLr > 0)) throw new IllegalArgumentException("--word-lr must be > 0, got " + wordLr);
            if (!(ema >= 0 && ema < 1)) throw new IllegalArgumentException("--ema must be in [0, 1), got " + ema);
            if (!(captionDropout >= 0 && captionDropout < 1)) throw new IllegalArgumentException("--caption-dropout must be in [0, 1)");
            if (dtype != DType.F16 && dtype != DType.F32 && dtype != DType.BF16) throw new IllegalArgumentException("--dtype must be f16, bf16 or f32");
        }
    }

    /** The trained file's size in parameters, the UNet's, and the wall time of the optimization. */
    public record Result(long parameters, long unetParameters, int layers, List<String> newWords, double seconds) {}

    private final Checkpoint model;
    private final ImageFolder data;
    private final Settings settings;
    private final Path out, workDir;
    private final PrintStream log;
    private long stopAfter = Long.MAX_VALUE;

    public LoraTraining(Checkpoint model, ImageFolder data, Settings settings, Path out, Path workDir, PrintStream log) {
        settings.validate();
        this.model = model;
        this.data = data;
        this.settings = settings;
        this.out = out;
        this.workDir = workDir;
        this.log = log;
    }

    /** For tests of resumption: stop (as if killed) after this many steps; nothing is written then. */
    void stopAfter(long steps) {
        stopAfter = steps;
    }

    /** The image size the model is trained at: the UNet's sample_size × the VAE's downscale. */
    public static int imageSize(Checkpoint model) {
        int down = 1 << (model.vae.config().getInts("block_out_channels").length - 1);
        return model.unet.config().getInt("sample_size", 64) * down;
    }

    /** A layer being trained: its kohya key, base weight shape and the factors' parameter names. */
    private record Layer(String component, String path, String key, int[] weightShape) {}

    public Result run() throws IOException {
        Files.createDirectories(workDir);
        ClipTokenizer tokenizer = model.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(model.tokenizerDir);
        List<Layer> layers = new ArrayList<>();
        for (String p : LoraTargets.unet(model.unet, settings.targets())) layers.add(layer(model.unet, p));
        if (settings.textEncoder()) for (String p : LoraTargets.text(model.text)) layers.add(layer(model.text, p));

        Rng rng = new Rng(settings.seed());
        Parameters params = new Parameters();
        for (Layer l : layers) {
            int[] w = l.weightShape;
            int fan = 1;
            for (int d = 1; d < w.length; d++) fan *= w[d];
            int[] down = w.clone(), up = w.length == 2 ? new int[]{w[0], settings.rank()} : new int[]{w[0], settings.rank(), 1, 1};
            down[0] = settings.rank();
            float[] d = new float[settings.rank() * fan];
            float bound = (float) (1 / Math.sqrt(fan)); // kaiming-uniform as PEFT and kohya start A; B starts at zero
            for (int i = 0; i < d.length; i++) d[i] = bound * (2f * (float) rng.nextDouble() - 1f);
            params.put(l.key + ".lora_down.weight", down, d);
            params.put(l.key + ".lora_up.weight", up, new float[w[0] * settings.rank()]);
        }
        Map<Integer, String> newWords = settings.newWords() ? newWords(tokenizer) : Map.of();
        int hidden = WordEmbeddings.table(model).shape()[1];
        Map<Integer, float[]> tokenVectors = new LinkedHashMap<>();
        // a new word's vector v is learnt as v / scale with the loop's learning rate, so v itself moves at --word-lr
        // (textual inversion's usual rate, well above a LoRA's); it starts in a random direction at the norm the
        // model's known words have
        float scale = (float) (settings.wordLr() / settings.lr()), norm = knownWordNorm();
        for (Map.Entry<Integer, String> e : newWords.entrySet()) {
            float[] v = new float[hidden];
            double sq = 0;
            for (int i = 0; i < hidden; i++) {
                v[i] = rng.nextGaussian();
                sq += v[i] * v[i];
            }
            for (int i = 0; i < hidden; i++) v[i] *= (float) (norm / Math.sqrt(sq) / scale);
            params.put("bundle_emb." + e.getValue() + ".string_to_param.*", new int[]{1, hidden}, v);
            tokenVectors.put(e.getKey(), v);
        }
        long unetParams = 0;
        for (ModelTensor t : model.unet.tensors().values()) unetParams += t.size();
        log.printf(Locale.ROOT, "lora: rank %d, alpha %s on %d layers (%s%s): %,d parameters, %.2f%% of the UNet's %,d%s%n", settings.rank(),
                settings.alpha(), layers.size(), settings.targets(), settings.textEncoder() ? " + text encoder" : "", params.count(),
                100.0 * params.count() / unetParams, unetParams, newWords.isEmpty() ? "" : "; new words " + newWords.values());

        // the frozen model with trainable branches (the base layers keep their format: f16, or 4-bit for QLoRA)
        UNet2DConditionModel unet = new UNet2DConditionModel(model.unet.config(),
                model.unet.weights().withPolicy(branches(params, layers, Component.UNET)));
        ClipTextModel text = new ClipTextModel(model.text.config(), model.text.weights().withPolicy(branches(params, layers, Component.TEXT_ENCODER)));

        int size = imageSize(model);
        AutoencoderKL vae = new AutoencoderKL(model.vae.config(), model.vae.weights());
        LatentDataset latents = LatentDataset.encode(vae, data.count(), (start, count) -> data.images(start, count, size), 1f, null)
                .toUnet(LatentScaling.ofVae(model.vae.config(), vae.latentChannels()));
        float[] alphas = NoiseSchedule.of(model.schedulerConfig).alphasCumprod();
        List<String> captions = data.captions();
        var objective = new DiffusionObjective(unet, text, latents, (i, r) -> captions.get(i), tokenVectors, scale, tokenizer, alphas,
                settings.batch(), settings.captionDropout(), settings.minSnrGamma(), 0, settings.seed());

        TrainingLoop.Settings loopSettings = new TrainingLoop.Settings(settings.steps(), settings.batch(), settings.lr(), settings.warmup(),
                0.05, settings.weightDecay(), 1.0, settings.ema() > 0 ? settings.ema() : 0.5, List.of(), true,
                settings.checkpointSeconds(), (int) Math.max(1, Math.min(50, settings.steps() / 20)));
        TrainingLoop loop = new TrainingLoop("lora", params, loopSettings, workDir, log);
        loop.stopAfter(stopAfter);
        long t0 = System.nanoTime();
        if (!loop.run(objective)) return null;
        double seconds = (System.nanoTime() - t0) / 1e9;
        Parameters trained = settings.ema() > 0 ? loop.emaWeights() : params;
        write(trained, layers, newWords.values(), scale, unetParams);
        log.printf(Locale.ROOT, "wrote %s (%,d parameters, %.1f min of training)%n", out, params.count(), seconds / 60);
        return new Result(params.count(), unetParams, layers.size(), List.copyOf(newWords.values()), seconds);
    }

    private Layer layer(Component c, String path) {
        return new Layer(c.kind(), path, LoraTargets.kohyaKey(c.kind(), path), c.tensors().get(path + ".weight").shape());
    }

    /** The run-time branches of one component's layers, reading the trainable factors in place. */
    private LayerPolicy branches(Parameters params, List<Layer> layers, String component) {
        Map<String, List<Adapters.Factor>> factors = new LinkedHashMap<>();
        float scale = settings.alpha() / settings.rank();
        for (Layer l : layers) {
            if (!l.component.equals(component)) continue;
            Weight down = heap(l.key + ".lora_down.weight", params), up = heap(l.key + ".lora_up.weight", params);
            int[] upShape = {l.weightShape[0], settings.rank()};
            factors.put(l.path, List.of(new Adapters.Factor(down, new Weight(up.name(), DType.F32, upShape, up.data()), scale, l.key)));
        }
        return factors.isEmpty() ? LayerPolicy.DENSE : new LoraPolicy(LayerPolicy.DENSE, factors);
    }

    private static Weight heap(String name, Parameters p) {
        float[] v = p.get(name);
        return new Weight(name, DType.F32, p.shapes().get(name), MemorySegment.ofArray(v));
    }

    /** The mean norm of the token embeddings the model has (its non-zero rows); 0.5 when it has none. */
    private float knownWordNorm() {
        Weight table = WordEmbeddings.table(model).get();
        int rows = table.shape()[0], hidden = table.shape()[1];
        float[] row = new float[hidden];
        double sum = 0;
        int n = 0;
        for (int r = 0; r < rows; r++) {
            table.copyTo((long) r * hidden, row, 0, hidden);
            double sq = 0;
            for (float v : row) sq += v * v;
            if (sq > 0) {
                sum += Math.sqrt(sq);
                n++;
            }
        }
        return n == 0 ? 0.5f : (float) (sum / n);
    }

    /**
     * Caption words the model has never seen: one-token words whose embedding row is all zeros (the Mini's text
     * encoder zeroes every token its captions did not use). Token id → word, in caption order.
     */
    private Map<Integer, String> newWords(ClipTokenizer tokenizer) {
        Weight table = WordEmbeddings.table(model).get();
        int hidden = table.shape()[1];
        float[] row = new float[hidden];
        Map<Integer, String> out = new LinkedHashMap<>();
        Set<String> words = new LinkedHashSet<>();
        for (String c : data.captions()) for (String w : c.toLowerCase(Locale.ROOT).split("[^a-z0-9']+")) if (!w.isEmpty()) words.add(w);
        for (String w : words) {
            int[] ids = tokenizer.tokenize(w);
            if (ids.length != 1) continue;
            table.copyTo((long) ids[0] * hidden, row, 0, hidden);
            boolean zero = true;
            for (float v : row) zero &= v == 0f;
            if (zero) out.put(ids[0], w);
        }
        return out;
    }

    private void write(Parameters trained, List<Layer> layers, java.util.Collection<String> words, float wordScale, long unetParams)
            throws IOException {
        List<KohyaWriter.Module> modules = new ArrayList<>();
        for (Layer l : layers) {
            String d = l.key + ".lora_down.weight", u = l.key + ".lora_up.weight";
            modules.add(new KohyaWriter.Module(l.key, trained.get(d), trained.shapes().get(d), trained.get(u), trained.shapes().get(u), settings.alpha()));
        }
        Map<String, float[]> vectors = new LinkedHashMap<>();
        for (String w : words) {
            float[] v = trained.get("bundle_emb." + w + ".string_to_param.*").clone();
            for (int i = 0; i < v.length; i++) v[i] *= wordScale;
            vectors.put(w, v);
        }
        Map<String, String> meta = new LinkedHashMap<>();
        boolean conv = layers.stream().anyMatch(l -> l.weightShape.length == 4 && l.weightShape[2] > 1);
        meta.put("ss_network_module", "networks.lora");
        meta.put("ss_network_dim", Integer.toString(settings.rank()));
        meta.put("ss_network_alpha", Float.toString(settings.alpha()));
        if (conv) meta.put("ss_network_args", "{\"conv_dim\": \"" + settings.rank() + "\", \"conv_alpha\": \"" + settings.alpha() + "\"}");
        meta.put("ss_sd_model_name", model.name);
        meta.put("ss_base_model_version", "sd_v1");
        meta.put("ss_resolution", "(" + imageSize(model) + ", " + imageSize(model) + ")");
        meta.put("ss_num_train_images", Integer.toString(data.count()));
        meta.put("ss_max_train_steps", Long.toString(settings.steps()));
        meta.put("ss_train_batch_size", Integer.toString(settings.batch()));
        meta.put("ss_learning_rate", Double.toString(settings.lr()));
        meta.put("ss_lr_warmup_steps", Long.toString(settings.warmup()));
        meta.put("ss_lr_scheduler", "cosine");
        meta.put("ss_caption_dropout_rate", Double.toString(settings.captionDropout()));
        meta.put("ss_min_snr_gamma", Double.toString(settings.minSnrGamma()));
        meta.put("ss_seed", Long.toString(settings.seed()));
        meta.put("ss_text_encoder_lr", settings.textEncoder() ? Double.toString(settings.lr()) : "0");
        meta.put("ss_training_comment", "edgediffuse train-lora --target " + settings.targets() + (words.isEmpty() ? "" : "; new words " + words)
                + "; " + unetParams + " UNet parameters in the base");
        meta.put("modelspec.architecture", "stable-diffusion-v1/lora");
        KohyaWriter.write(out, modules, vectors, meta, settings.dtype());
    }
}
