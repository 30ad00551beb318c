package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The optimization loop shared by every training stage: AdamW under a warm-up + cosine schedule, gradient clipping,
 * EMA weights, a progress line (loss, samples/s, ETA), a JSON-lines log, and checkpoints. A step's randomness is a
 * function of (seed, step) alone, so a run resumed from its checkpoint continues bit for bit as if never stopped.
 */
public final class TrainingLoop {
    /** One optimization step's forward and backward: records on {@code tape}, calls backward, returns the loss. */
    @FunctionalInterface
    public interface Objective {
        double step(Tape tape, long step);

        /** Figures of the last step to log beside its loss, e.g. an adversary's own loss (name → value). */
        default Map<String, Double> lastMetrics() {
            return Map.of();
        }
    }

    /**
     * {@code emaAlternatives}: decays of further EMAs kept beside the main one (the same run, other averages);
     * {@code emaWarmUp}: whether the EMAs warm up (see {@link Ema}), false for a fine-tune of trained weights.
     */
    public record Settings(long steps, int batch, double lr, long warmup, double lrFloor, double weightDecay,
                           double clipNorm, double emaDecay, List<Double> emaAlternatives, boolean emaWarmUp,
                           int checkpointSeconds, int logEvery) {
        public Settings(long steps, int batch, double lr, long warmup, double lrFloor, double weightDecay,
                        double clipNorm, double emaDecay, int checkpointSeconds, int logEvery) {
            this(steps, batch, lr, warmup, lrFloor, weightDecay, clipNorm, emaDecay, List.of(), true, checkpointSeconds, logEvery);
        }
    }

    private final String stage;
    private final Parameters params;
    private final Settings settings;
    private final Path checkpoint, log;
    private final PrintStream out;
    private final AdamW adam;
    private final Ema ema;
    private final Map<Double, Ema> alternatives = new LinkedHashMap<>();
    private final LearningRate schedule;
    private long step;
    /** For tests of resumption: stop (as if killed) once this many steps are done. */
    private long stopAfter = Long.MAX_VALUE;

    public TrainingLoop(String stage, Parameters params, Settings settings, Path workDir, PrintStream out) {
        this(stage, params, params, settings, workDir, out);
    }

    /**
     * {@code emaOver}: the parameters the EMAs average (a subset of {@code params}, the same arrays and names), e.g.
     * a model's weights without its quantizers' scales.
     */
    public TrainingLoop(String stage, Parameters params, Parameters emaOver, Settings settings, Path workDir, PrintStream out) {
        this.stage = stage;
        this.params = params;
        this.settings = settings;
        this.checkpoint = workDir.resolve(stage + ".checkpoint.safetensors");
        this.log = workDir.resolve(stage + ".log.jsonl");
        this.out = out;
        this.adam = new AdamW(params, 0.9, 0.999, 1e-8, settings.weightDecay(), settings.clipNorm());
        this.ema = new Ema(emaOver, settings.emaDecay(), settings.emaWarmUp());
        for (double d : settings.emaAlternatives()) alternatives.put(d, new Ema(emaOver, d, settings.emaWarmUp()));
        this.schedule = new LearningRate(settings.lr(), settings.warmup(), settings.steps(), settings.lrFloor());
    }

    /** For tests of resumption: stop (as if killed) once {@code steps} steps are done. */
    public void stopAfter(long steps) {
        stopAfter = steps;
    }

    public Parameters emaWeights() {
        return ema.weights();
    }

    /** The EMA weights of one of the settings' {@code emaAlternatives}. */
    public Parameters emaWeights(double decay) {
        Ema e = alternatives.get(decay);
        if (e == null) throw new IllegalArgumentException(stage + ": no EMA of decay " + decay + " was kept");
        return e.weights();
    }

    public long step() {
        return step;
    }

    /** Runs (or resumes) to the last step; returns false when stopped early by {@link #stopAfter}. */
    public boolean run(Objective objective) throws IOException {
        if (Files.exists(checkpoint)) {
            resume();
            if (out != null) out.printf("%s: resuming at step %d of %d from %s%n", stage, step, settings.steps(), checkpoint);
        }
        long start = System.nanoTime(), lastSave = start, startStep = step;
        double avg = Double.NaN;
        while (step < settings.steps()) {
            if (step >= stopAfter) return false;
            double lr = schedule.at(step);
            double loss, norm;
            try (Tape tape = Tape.begin(params.arrays())) {
                loss = objective.step(tape, step);
                if (!Double.isFinite(loss)) throw new IllegalStateException(stage + ": loss is " + loss + " at step " + step);
                norm = adam.step(tape, lr);
            }
            step++;
            ema.update(params, step);
            for (Ema e : alternatives.values()) e.update(params, step);
            avg = Double.isNaN(avg) ? loss : 0.98 * avg + 0.02 * loss;
            double elapsed = (System.nanoTime() - start) / 1e9;
            double perSecond = (step - startStep) * settings.batch() / elapsed;
            if (step % settings.logEvery() == 0 || step == settings.steps()) {
                StringBuilder json = new StringBuilder(), shown = new StringBuilder();
                for (Map.Entry<String, Double> m : new TreeMap<>(objective.lastMetrics()).entrySet()) {
                    json.append(String.format(Locale.ROOT, ",\"%s\":%.6f", m.getKey(), m.getValue()));
                    shown.append(String.format(Locale.ROOT, " %s %.4f", m.getKey(), m.getValue()));
                }
                appendLog(String.format(Locale.ROOT,
                        "{\"stage\":\"%s\",\"step\":%d,\"loss\":%.6f,\"loss_avg\":%.6f%s,\"lr\":%.3e,\"grad_norm\":%.4f,\"samples_per_s\":%.2f,\"elapsed_s\":%.1f}",
                        stage, step, loss, avg, json, lr, norm, perSecond, elapsed));
                if (out != null) {
                    double eta = (settings.steps() - step) * elapsed / (step - startStep);
                    out.printf(Locale.ROOT, "%s %d/%d loss %.4f (avg %.4f)%s lr %.2e  %.1f samples/s  ETA %s%n", stage, step,
                            settings.steps(), loss, avg, shown, lr, perSecond, clock(eta));
                }
            }
            if ((System.nanoTime() - lastSave) / 1e9 >= settings.checkpointSeconds()) {
                save();
                lastSave = System.nanoTime();
            }
        }
        save();
        return true;
    }

    private void appendLog(String line) throws IOException {
        Files.createDirectories(log.toAbsolutePath().getParent());
        Files.writeString(log, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Parameters, Adam moments and EMA, all f32, with the step in the metadata; written atomically. */
    void save() throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        add(w, "param.", params);
        add(w, "adam_m.", adam.m);
        add(w, "adam_v.", adam.v);
        add(w, "ema.", ema.shadow);
        for (Map.Entry<Double, Ema> e : alternatives.entrySet()) add(w, alternativePrefix(e.getKey()), e.getValue().shadow);
        w.metadata("stage", stage).metadata("step", Long.toString(step)).metadata("adam_step", Long.toString(adam.step));
        w.write(checkpoint);
    }

    private static void add(SafeTensorsWriter w, String prefix, Parameters p) {
        for (String n : p.names()) {
            float[] v = p.get(n);
            w.add(prefix + n, DType.F32, p.shapes().get(n), (off, dst, cnt) -> System.arraycopy(v, (int) off, dst, 0, cnt));
        }
    }

    private void resume() {
        try (SafeTensors st = SafeTensors.open(checkpoint)) {
            Map<String, String> meta = st.metadata();
            if (!stage.equals(meta.get("stage"))) {
                throw new ModelFormatException(checkpoint + ": checkpoint of stage " + meta.get("stage") + ", expected " + stage);
            }
            read(st, "param.", params);
            read(st, "adam_m.", adam.m);
            read(st, "adam_v.", adam.v);
            read(st, "ema.", ema.shadow);
            for (Map.Entry<Double, Ema> e : alternatives.entrySet()) {
                String prefix = alternativePrefix(e.getKey());
                if (st.tensors().keySet().stream().noneMatch(k -> k.startsWith(prefix))) {
                    throw new ModelFormatException(checkpoint + ": holds no EMA of decay " + e.getKey() + ": the recipe's "
                            + "ema_alternatives changed since it was written; restore them, or delete the checkpoint to restart the stage");
                }
                read(st, prefix, e.getValue().shadow);
            }
            step = Long.parseLong(meta.get("step"));
            adam.step = Long.parseLong(meta.get("adam_step"));
        }
    }

    private static String alternativePrefix(double decay) {
        return "ema@" + decay + ".";
    }

    private void read(SafeTensors st, String prefix, Parameters p) {
        for (String n : p.names()) {
            Weight w = st.tensors().get(prefix + n);
            float[] v = p.get(n);
            if (w == null || w.size() != v.length) {
                throw new ModelFormatException(checkpoint + ": tensor " + prefix + n + " is missing or has the wrong size");
            }
            w.copyTo(0, v, 0, v.length);
        }
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }

    /** Per-step random numbers: a function of (seed, step) only. */
    public static Rng rngFor(long seed, long step) {
        Rng r = new Rng(seed * 0x9E3779B97F4A7C15L + step);
        r.nextLong();
        return r;
    }
}
