package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.GuidanceEmbedding;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.util.Map;

/**
 * Latent consistency distillation (Luo et al. 2023; diffusers' train_lcm_distill_sd_wds), one step: a latent is noised
 * to a DDIM grid timestep t_n = (n+1)·k − 1 (k = 1000 / grid size); the student's consistency function
 * f(x, t_n) = c_skip(t_n)·x + c_out(t_n)·x̂₀ (x̂₀ from its ε prediction; c_skip = σ_d²/((10t)² + σ_d²),
 * c_out = 10t/√((10t)² + σ_d²), σ_d = 0.5) must match the target network's f at the point one guided DDIM step of the
 * teacher reaches, t = t_n − k. The teacher guides with w ~ U[w_min, w_max] as cond + w·(cond − uncond) on both x̂₀
 * and ε (CFG scale w + 1), and only at t_n ≤ the guidance interval's end (the Mini's own sampling guides only there);
 * a student with {@code time_cond_proj_dim} is told w through its guidance embedding. Teacher and target run inside
 * {@link Tape#noGradient()}; the loss is the pseudo-Huber √(d² + c²) − c averaged over every value.
 */
public final class ConsistencyObjective implements TrainingLoop.Objective {
    private static final double SIGMA_DATA = 0.5, TIMESTEP_SCALING = 10;

    /** The distillation's fixed settings. */
    public record Settings(int ddimTimesteps, double wMin, double wMax, int guidanceMaxTimestep, double huberC, int batch, long seed) {}

    private final UNet2DConditionModel student, target, teacher;
    private final ClipTextModel text;
    private final ClipTokenizer tokenizer;
    private final LatentDataset latents;
    private final DiffusionObjective.CaptionSource captions;
    private final float[] alphasCumprod;
    private final Settings s;
    private final Batches batches;
    private final float[] uncondContext;
    private final int tokens, dim;
    private double lastL2;

    /**
     * @param student the network trained (parameters on the tape), with time_cond_proj_dim for full distillation or
     *                without (LCM-LoRA)
     * @param target  its EMA (full distillation) or the student itself (LCM-LoRA)
     */
    public ConsistencyObjective(UNet2DConditionModel student, UNet2DConditionModel target, UNet2DConditionModel teacher, ClipTextModel text,
                                ClipTokenizer tokenizer, LatentDataset latents, DiffusionObjective.CaptionSource captions,
                                float[] alphasCumprod, Settings settings) {
        this.student = student;
        this.target = target;
        this.teacher = teacher;
        this.text = text;
        this.tokenizer = tokenizer;
        this.latents = latents;
        this.captions = captions;
        this.alphasCumprod = alphasCumprod;
        this.s = settings;
        this.batches = new Batches(latents.count(), settings.batch(), settings.seed());
        this.tokens = ClipTokenizer.MAX_LENGTH;
        this.dim = student.crossAttentionDim();
        try (var ignored = Tape.noGradient()) {
            this.uncondContext = text.encode(new int[][]{tokenizer.encode("")});
        }
    }

    static double cSkip(int t) {
        double x = TIMESTEP_SCALING * t;
        return SIGMA_DATA * SIGMA_DATA / (x * x + SIGMA_DATA * SIGMA_DATA);
    }

    static double cOut(int t) {
        double x = TIMESTEP_SCALING * t;
        return x / Math.sqrt(x * x + SIGMA_DATA * SIGMA_DATA);
    }

    @Override
    public double step(Tape tape, long step) {
        Rng rng = TrainingLoop.rngFor(s.seed(), step);
        int[] idx = batches.indices(step);
        int b = idx.length, size = latents.pixels() * latents.channels(), k = alphasCumprod.length / s.ddimTimesteps();
        float[] z0 = latents.sample(idx, rng);
        float[] x = new float[b * size], noise = new float[b * size], tStart = new float[b], tEnd = new float[b], w = new float[b];
        int[] start = new int[b], end = new int[b];
        int[][] ids = new int[b][];
        for (int j = 0; j < b; j++) {
            int n = rng.nextInt(s.ddimTimesteps());
            start[j] = (n + 1) * k - 1;
            end[j] = Math.max(start[j] - k, 0);
            tStart[j] = start[j];
            tEnd[j] = end[j];
            DiffusionObjective.addNoise(z0, j * size, size, alphasCumprod[start[j]], 0, rng, noise, x);
            w[j] = (float) (s.wMin() + (s.wMax() - s.wMin()) * rng.nextDouble());
            ids[j] = tokenizer.encode(captions.caption(idx[j], rng));
        }
        float[] context, targetOut;
        UNetHooks guidance = student.timeCondDim() > 0
                ? UNetHooks.NONE.withTimestepCond(GuidanceEmbedding.of(w, student.timeCondDim())) : UNetHooks.NONE;
        float[] xPrev = new float[b * size];
        try (var ignored = Tape.noGradient()) {
            context = text.encode(ids);
            teacherStep(x, start, end, w, context, xPrev, b, size);
        }
        // the online student at (x, t_n): its consistency function, recorded
        float[] pred = student.predict(new FeatureMap(x, b, latents.height(), latents.width(), latents.channels()), tStart, context, tokens,
                guidance).data();
        try (var ignored = Tape.noGradient()) {
            targetOut = target.predict(new FeatureMap(xPrev.clone(), b, latents.height(), latents.width(), latents.channels()), tEnd,
                    context, tokens, guidance).data();
        }
        float[] grad = new float[pred.length];
        double loss = 0, l2 = 0, c = s.huberC();
        for (int j = 0; j < b; j++) {
            double aS = Math.sqrt(alphasCumprod[start[j]]), sS = Math.sqrt(1 - alphasCumprod[start[j]]);
            double aE = Math.sqrt(alphasCumprod[end[j]]), sE = Math.sqrt(1 - alphasCumprod[end[j]]);
            double skipS = cSkip(start[j]), outS = cOut(start[j]), skipE = cSkip(end[j]), outE = cOut(end[j]);
            for (int i = j * size; i < (j + 1) * size; i++) {
                double model = skipS * x[i] + outS * (x[i] - sS * pred[i]) / aS;
                double tgt = skipE * xPrev[i] + outE * (xPrev[i] - sE * targetOut[i]) / aE;
                double d = model - tgt, r = Math.sqrt(d * d + c * c);
                loss += r - c;
                l2 += d * d;
                // d loss / d pred = (d / r) · d model / d pred, with d model / d pred = −c_out·σ/α
                grad[i] = (float) ((c == 0 ? 2 * d : d / r) * (-outS * sS / aS) / pred.length);
            }
        }
        if (c == 0) loss = l2;
        lastL2 = l2 / pred.length;
        tape.backward(pred, grad);
        return loss / pred.length;
    }

    /**
     * The teacher's guided DDIM step from t_n to t_n − k for every sample, into {@code xPrev}: one UNet call on the
     * conditional rows of all samples and the unconditional rows of those it guides (w > 0 and t_n inside the
     * guidance interval).
     */
    private void teacherStep(float[] x, int[] start, int[] end, float[] w, float[] context, float[] xPrev, int b, int size) {
        int guided = 0;
        boolean[] g = new boolean[b];
        for (int j = 0; j < b; j++) {
            g[j] = w[j] > 0 && start[j] <= s.guidanceMaxTimestep();
            if (g[j]) guided++;
        }
        int rows = b + guided, ctxSize = tokens * dim;
        float[] in = new float[rows * size], ts = new float[rows], ctx = new float[rows * ctxSize];
        System.arraycopy(x, 0, in, 0, b * size);
        System.arraycopy(context, 0, ctx, 0, b * ctxSize);
        int r = b;
        int[] uncondRow = new int[b];
        for (int j = 0; j < b; j++) {
            ts[j] = start[j];
            if (!g[j]) continue;
            System.arraycopy(x, j * size, in, r * size, size);
            System.arraycopy(uncondContext, 0, ctx, r * ctxSize, ctxSize);
            ts[r] = start[j];
            uncondRow[j] = r++;
        }
        float[] out = teacher.predict(new FeatureMap(in, rows, latents.height(), latents.width(), latents.channels()), ts, ctx, tokens).data();
        for (int j = 0; j < b; j++) {
            double a = Math.sqrt(alphasCumprod[start[j]]), sg = Math.sqrt(1 - alphasCumprod[start[j]]);
            double aPrev = alphasCumprod[end[j]]; // ᾱ at t_n − k; at the grid's first point ᾱ₀ (diffusers' DDIMSolver)
            double sqPrev = Math.sqrt(aPrev), sgPrev = Math.sqrt(1 - aPrev);
            for (int i = 0; i < size; i++) {
                int p = j * size + i;
                double eps = out[p], x0 = (x[p] - sg * eps) / a;
                if (g[j]) {
                    double uEps = out[uncondRow[j] * size + i], uX0 = (x[p] - sg * uEps) / a;
                    eps = eps + w[j] * (eps - uEps);
                    x0 = x0 + w[j] * (x0 - uX0);
                }
                xPrev[p] = (float) (sqPrev * x0 + sgPrev * eps);
            }
        }
    }

    @Override
    public Map<String, Double> lastMetrics() {
        return Map.of("l2", lastL2);
    }
}
