package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What every calibrated pass reads: the inputs of each UNet layer over the model's own sampling trajectories (a
 * prompt set, both classifier-free-guidance halves, every step of its scheduler), kept as per-layer statistics and
 * GPTQ Hessians ({@link InputStatistics}), plus a bounded sample of whole UNet calls (latents, timesteps, context)
 * on which {@link Sensitivity} measures output error. Collected once per model by {@link #collect} into one
 * safetensors file, with the model's identity, scheduler and steps, so data from another model or schedule is refused.
 * Opened data reads each layer's Hessian from the mapped file when asked, so memory stays bounded.
 */
public final class Calibration implements AutoCloseable {
    public static final String FILE = "calibration.safetensors";
    static final String META_KEY = "edgediffuse.calibration";
    static final String VERSION = "1";

    /**
     * How calibration data is taken: the sampling (scheduler, steps, CFG and its interval, size), prompts denoised per
     * batch, seeds from {@code seed}, the Hessian block, and which UNet calls are kept whole: the rows of the first
     * {@code keepPrompts} prompts at {@code keepSteps} steps spread over the schedule.
     */
    public record Settings(String scheduler, int steps, float cfg, int cfgMaxTimestep, int width, int height, long seed, int batch,
                           int hessianBlock, int keepSteps, int keepPrompts, String promptSet) {}

    /** One layer's input statistics as stored: per channel max |x| and mean x², the range, and the Hessian's blocks. */
    public final class Layer {
        public final String path;
        public final int channels, k, kernel, stride, block;
        public final long rows;
        public final float min, max;

        Layer(String path, Map<String, Object> m) {
            this.path = path;
            this.channels = num(m, "channels");
            this.k = num(m, "k");
            this.kernel = num(m, "kernel");
            this.stride = num(m, "stride");
            this.block = num(m, "block");
            this.rows = ((Number) m.get("rows")).longValue();
            float[] range = tensor(path + ".range").toFloats();
            this.min = range[0];
            this.max = range[1];
        }

        public boolean conv() {
            return kernel > 1 || stride > 1;
        }

        public float[] absMax() {
            return tensor(path + ".absmax").toFloats();
        }

        public float[] sqMean() {
            return tensor(path + ".sqmean").toFloats();
        }

        public int blocks() {
            return (k + block - 1) / block;
        }

        /** Block b of H = XᵀX / rows: columns [b·block, b·block + len), row-major [len][len]. */
        public double[] hessianBlock(int b) {
            float[] f = tensor(path + ".hessian." + b).toFloats();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }

        public int blockStart(int b) {
            return b * block;
        }

        public int blockLength(int b) {
            return Math.min(block, k - b * block);
        }
    }

    private final Path file;
    private final SafeTensors st;
    private final Map<String, Weight> tensors;
    public final String identity, modelName;
    public final Settings settings;
    public final int prompts;
    private final Map<String, Layer> layers = new LinkedHashMap<>();

    private Calibration(Path file, SafeTensors st) {
        this.file = file;
        this.st = st;
        this.tensors = st.tensors();
        String meta = st.metadata().get(META_KEY);
        if (meta == null) throw new ModelFormatException(file + ": not calibration data (no " + META_KEY + " metadata)");
        Map<String, Object> m = Json.parseObject(meta, file + ": " + META_KEY);
        if (!VERSION.equals(m.get("version"))) throw new ModelFormatException(file + ": calibration data of version " + m.get("version") + " (this build reads " + VERSION + ")");
        this.identity = (String) m.get("identity");
        this.modelName = (String) m.get("model");
        this.prompts = num(m, "prompts");
        this.settings = new Settings((String) m.get("scheduler"), num(m, "steps"), ((Number) m.get("cfg")).floatValue(), num(m, "cfg_max_timestep"),
                num(m, "width"), num(m, "height"), ((Number) m.get("seed")).longValue(), num(m, "batch"), num(m, "hessian_block"),
                num(m, "keep_steps"), num(m, "keep_prompts"), (String) m.get("prompt_set"));
        @SuppressWarnings("unchecked")
        Map<String, Object> ls = (Map<String, Object>) m.get("layers");
        for (Map.Entry<String, Object> e : ls.entrySet()) {
            @SuppressWarnings("unchecked")
            Map<String, Object> lm = (Map<String, Object>) e.getValue();
            layers.put(e.getKey(), new Layer(e.getKey(), lm));
        }
    }

    /** The calibration folder of a model: beside it, named {@code <model>.quant}. */
    public static Path defaultDir(Path model) {
        Path abs = model.toAbsolutePath().normalize();
        String name = abs.getFileName().toString().replaceFirst("\\.safetensors$", "");
        return abs.resolveSibling(name + ".quant");
    }

    public static Calibration open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(file + ": no calibration data (run edgediffuse calibrate first, or pass --calibration)");
        }
        SafeTensors st = SafeTensors.open(file);
        try {
            return new Calibration(file, st);
        } catch (RuntimeException e) {
            st.close();
            if (e instanceof ModelFormatException) throw e;
            throw new ModelFormatException(file + ": malformed calibration data (" + e.getMessage() + ")");
        }
    }

    public Path file() {
        return file;
    }

    /** Every observed layer, in model order, by path (e.g. {@code down_blocks.0.resnets.0.conv1}). */
    public Map<String, Layer> layers() {
        return Collections.unmodifiableMap(layers);
    }

    public Layer layer(String path) {
        return layers.get(path);
    }

    /**
     * Refuses data taken from another model or with another schedule, in one line: {@code identity} is
     * {@link ModelIdentity#of} the model at hand; {@code scheduler}/{@code steps} what it will sample with.
     */
    public void check(String modelIdentity, String scheduler, int steps) {
        if (!identity.equals(modelIdentity)) {
            throw new IllegalArgumentException(file + " was taken from another model (" + modelName + ", identity " + identity
                    + "; this model's is " + modelIdentity + "): calibrate this model");
        }
        if (!settings.scheduler().equals(scheduler) || settings.steps() != steps) {
            throw new IllegalArgumentException(file + " was taken with " + settings.scheduler() + ", " + settings.steps()
                    + " steps; this model samples with " + scheduler + ", " + steps + " steps: calibrate with those (or pass --scheduler/--steps)");
        }
    }

    /** The kept UNet calls' latents (scaled model input), channels-last [rows][h][w][c]. */
    public FeatureMap keptLatents() {
        Weight w = tensor("calls.latents");
        int[] s = w.shape();
        return new FeatureMap(w.toFloats(), s[0], s[1], s[2], s[3]);
    }

    public float[] keptTimesteps() {
        return tensor("calls.timesteps").toFloats();
    }

    /** The kept calls' context rows [rows][tokens][dim]. */
    public float[] keptContext() {
        return tensor("calls.context").toFloats();
    }

    public int keptContextTokens() {
        return tensor("calls.context").shape()[1];
    }

    private Weight tensor(String name) {
        Weight w = tensors.get(name);
        if (w == null) throw new ModelFormatException(file + ": tensor " + name + " is missing");
        return w;
    }

    private static int num(Map<String, Object> m, String key) {
        if (!(m.get(key) instanceof Number n)) throw new ModelFormatException("calibration metadata needs a number '" + key + "'");
        return n.intValue();
    }

    @Override
    public void close() {
        st.close();
    }

    // ---- collection ----

    /**
     * Runs the model over {@code prompts} as {@code settings} say, every layer of its UNet observed, and writes the
     * statistics to {@code out} atomically. Seeds are {@code settings.seed() + i} for prompt i. With a {@code state}
     * file, the run saves its accumulators there every {@code checkpointSeconds} and a killed run continues after the last batch
     * saved, to the same file bit for bit (the state is deleted once {@code out} is written).
     */
    public static void collect(Checkpoint cp, Settings settings, List<String> prompts, Path out, Path state, PrintStream progress,
                               double checkpointSeconds) throws IOException {
        collect(cp, settings, prompts, out, state, progress, checkpointSeconds, Integer.MAX_VALUE);
    }

    /**
     * As above, saving every {@code checkpointSeconds} (0: after every batch) and stopping after {@code stopAfterBatches}
     * batches of this call as a kill would (tests); returns whether {@code out} was written.
     */
    static boolean collect(Checkpoint cp, Settings settings, List<String> prompts, Path out, Path state, PrintStream progress,
                           double checkpointSeconds, int stopAfterBatches) throws IOException {
        if (prompts.isEmpty()) throw new IllegalArgumentException("no calibration prompts");
        String identity = ModelIdentity.of(cp);
        CalibrationObserver observer = new CalibrationObserver(settings.hessianBlock());
        try (Denoiser d = Denoiser.open(cp, false, new Denoiser.Layers(observer, LayerPolicy.DENSE))) {
            long bytes = 0;
            for (InputStatistics s : observer.layers().values()) bytes += InputStatistics.hessianBytes(s.k, s.block);
            long heap = Runtime.getRuntime().maxMemory();
            if (bytes > heap * 0.6) {
                throw new IllegalArgumentException("the Hessians take " + dev.edgediffuse.checkpoint.CheckpointWriter.size(bytes)
                        + " with --hessian-block " + settings.hessianBlock() + ", more than this heap (" + dev.edgediffuse.checkpoint.CheckpointWriter.size(heap)
                        + ") allows: use a smaller --hessian-block or a larger -Xmx");
            }
            int width = settings.width() > 0 ? settings.width() : d.defaultImageSize();
            int height = settings.height() > 0 ? settings.height() : d.defaultImageSize();
            settings = new Settings(settings.scheduler(), settings.steps(), settings.cfg(), settings.cfgMaxTimestep(), width, height,
                    settings.seed(), settings.batch(), settings.hessianBlock(), settings.keepSteps(), settings.keepPrompts(), settings.promptSet());
            if (progress != null) {
                progress.printf("calibrate: %d layers, Hessians %s in memory (block %d), %d prompts x %d steps, %s, %dx%d%n",
                        observer.layers().size(), dev.edgediffuse.checkpoint.CheckpointWriter.size(bytes), settings.hessianBlock(),
                        prompts.size(), settings.steps(), settings.scheduler(), settings.width(), settings.height());
            }
            Settings run = settings;
            Kept kept = new Kept(settings);
            String fingerprint = CalibrationState.fingerprint(identity, settings, prompts);
            long[] resumed = CalibrationState.load(state, fingerprint, observer.layers(), kept);
            if (resumed[0] > 0 && progress != null) progress.printf("calibrate: resuming %s after prompt %d%n", state, resumed[0]);
            int batches = (prompts.size() + settings.batch() - 1) / settings.batch();
            Progress bar = Progress.steps(progress, "calibrate", (long) batches * settings.steps());
            long done = resumed[1];
            long saved = System.nanoTime();
            int ranBatches = 0;
            for (int b0 = (int) resumed[0]; b0 < prompts.size(); b0 += settings.batch()) {
                if (ranBatches++ == stopAfterBatches) return false;
                List<DenoiseSession> sessions = new ArrayList<>();
                for (int i = b0; i < Math.min(prompts.size(), b0 + settings.batch()); i++) {
                    sessions.add(d.start(new GenerateRequest(prompts.get(i), "", run.steps(), run.cfg(), run.cfgMaxTimestep(),
                            run.scheduler(), run.seed() + i, run.width(), run.height(), null, null, 1f)));
                }
                int first = b0;
                while (!sessions.getFirst().done()) {
                    int step = sessions.getFirst().nextStep();
                    d.step(sessions, (latents, ts, ctx, tokens) -> kept.offer(step, first, sessions.size(), latents, ts, ctx, tokens));
                    bar.step(++done);
                }
                boolean last = b0 + settings.batch() >= prompts.size();
                if (state != null && !last && (System.nanoTime() - saved) / 1e9 >= checkpointSeconds) {
                    CalibrationState.save(state, fingerprint, b0 + settings.batch(), done, observer.layers(), kept);
                    saved = System.nanoTime();
                }
            }
            write(cp, identity, settings, prompts.size(), observer, kept, out);
            if (state != null) Files.deleteIfExists(state);
            return true;
        }
    }

    /** The whole UNet calls kept for sensitivity: the first prompts' rows at steps spread over the schedule. */
    static final class Kept {
        final Settings settings;
        final List<float[]> latents = new ArrayList<>(), context = new ArrayList<>();
        final List<Float> timesteps = new ArrayList<>();
        int h, w, c, tokens, dim;

        Kept(Settings settings) {
            this.settings = settings;
        }

        boolean keptStep(int step) {
            int n = Math.min(settings.keepSteps(), settings.steps());
            for (int i = 0; i < n; i++) {
                int s = n == 1 ? settings.steps() / 2 : (int) Math.round(i * (settings.steps() - 1) / (double) (n - 1));
                if (s == step) return true;
            }
            return false;
        }

        void offer(int step, int firstPrompt, int sessions, FeatureMap x, float[] ts, float[] ctx, int tokens) {
            if (!keptStep(step) || firstPrompt >= settings.keepPrompts()) return;
            int perSession = x.batch() / sessions, n = x.pixels() * x.channels();
            this.h = x.height();
            this.w = x.width();
            this.c = x.channels();
            this.tokens = tokens;
            this.dim = ctx.length / (x.batch() * tokens);
            for (int s = 0; s < sessions && firstPrompt + s < settings.keepPrompts(); s++) {
                for (int r = s * perSession; r < (s + 1) * perSession; r++) {
                    latents.add(java.util.Arrays.copyOfRange(x.data(), r * n, (r + 1) * n));
                    context.add(java.util.Arrays.copyOfRange(ctx, r * tokens * dim, (r + 1) * tokens * dim));
                    timesteps.add(ts[r]);
                }
            }
        }
    }

    private static void write(Checkpoint cp, String identity, Settings s, int prompts, CalibrationObserver observer, Kept kept, Path out)
            throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        Map<String, Object> layerMeta = new LinkedHashMap<>();
        for (InputStatistics l : observer.layers().values()) {
            if (l.rows == 0) continue; // a layer this model's calls never reach (e.g. an unused condition)
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("channels", l.channels);
            m.put("k", l.k);
            m.put("kernel", l.kernel);
            m.put("stride", l.stride);
            m.put("block", l.block);
            m.put("rows", l.rows);
            layerMeta.put(l.path, m);
            float[] sqMean = new float[l.channels];
            for (int c = 0; c < l.channels; c++) sqMean[c] = (float) (l.sqSum[c] / l.values);
            w.add(l.path + ".absmax", DType.F32, l.absMax, l.channels);
            w.add(l.path + ".sqmean", DType.F32, sqMean, l.channels);
            w.add(l.path + ".range", DType.F32, new float[]{l.min, l.max}, 2);
            for (int b = 0; b < l.hessian.length; b++) {
                double[] acc = l.hessian[b];
                int len = l.blockLength(b);
                double rows = l.rows;
                w.add(l.path + ".hessian." + b, DType.F32, new int[]{len, len}, (off, dst, count) -> {
                    for (int i = 0; i < count; i++) dst[i] = (float) (acc[(int) off + i] / rows);
                });
            }
        }
        int rows = kept.timesteps.size();
        if (rows == 0) throw new IllegalArgumentException("no UNet call kept for sensitivity (--keep-steps and --keep-prompts must be >= 1)");
        int n = kept.h * kept.w * kept.c, cn = kept.tokens * kept.dim;
        w.add("calls.latents", DType.F32, new int[]{rows, kept.h, kept.w, kept.c}, (off, dst, count) -> {
            for (int i = 0; i < count; i++) dst[i] = kept.latents.get((int) ((off + i) / n))[(int) ((off + i) % n)];
        });
        float[] ts = new float[rows];
        for (int i = 0; i < rows; i++) ts[i] = kept.timesteps.get(i);
        w.add("calls.timesteps", DType.F32, ts, rows);
        w.add("calls.context", DType.F32, new int[]{rows, kept.tokens, kept.dim}, (off, dst, count) -> {
            for (int i = 0; i < count; i++) dst[i] = kept.context.get((int) ((off + i) / cn))[(int) ((off + i) % cn)];
        });
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("version", VERSION);
        meta.put("model", cp.name);
        meta.put("identity", identity);
        meta.put("scheduler", s.scheduler());
        meta.put("steps", s.steps());
        meta.put("cfg", (double) s.cfg());
        meta.put("cfg_max_timestep", s.cfgMaxTimestep());
        meta.put("width", s.width());
        meta.put("height", s.height());
        meta.put("seed", s.seed());
        meta.put("batch", s.batch());
        meta.put("prompts", prompts);
        meta.put("prompt_set", s.promptSet());
        meta.put("hessian_block", s.hessianBlock());
        meta.put("keep_steps", s.keepSteps());
        meta.put("keep_prompts", s.keepPrompts());
        meta.put("kept_rows", rows);
        meta.put("layers", layerMeta);
        w.metadata(META_KEY, Json.write(meta));
        Files.createDirectories(out.toAbsolutePath().getParent());
        w.write(out);
    }
}
