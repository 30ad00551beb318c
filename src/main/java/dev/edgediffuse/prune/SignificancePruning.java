package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.eval.EvalPlan;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.prune.WidthPruning.Candidate;
import dev.edgediffuse.progress.Progress;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Hybrid SD's significance pruning (Hybrid SD, arXiv 2408.06646): each candidate (a ResNet's inner channels, an
 * attention's heads; optionally a feed-forward's units and an upsampler's outputs, see {@link WidthPruning}) is pruned alone at keep 0.5, the model generates the final
 * latents of a fixed prompt set with fixed seeds through the one denoising loop (an in-memory model per candidate),
 * and its score is ‖mean_b z − mean_b z'‖₂ + ‖std_b z − std_b z'‖₂ (statistics over the prompts, per latent value).
 * Candidates ranked by score get the keep ratios of the ladder by rank (Hybrid SD: the least significant third 0.25,
 * the next 0.5, the rest 0.75). With a MAC target, every ratio is scaled by one factor, the largest whose model fits
 * the target share of the reference's UNet MACs; a target no width reaches is a one-line error.
 */
public final class SignificancePruning {
    /** Hybrid SD's keep ratios, least significant first. */
    public static final double[] HYBRID_SD_KEEP = {0.25, 0.5, 0.75};
    /** The keep ratio a candidate is probed at. */
    static final double PROBE_KEEP = 0.5;

    /**
     * @param targetShare   share of {@code referenceMacs} the pruned UNet must fit (0: the ladder as it is)
     * @param keep          keep ratios by rank, least significant first, each in (0, 1)
     * @param prompts       prompts of the scoring set (the evaluation's captions, cycling over the classes)
     * @param steps         denoising steps per image; the scheduler and guidance are the model's sampling defaults
     * @param size          image size in pixels (0: the model's own)
     */
    public record Settings(double targetShare, long referenceMacs, double[] keep, int prompts, int steps, int size, long seed,
                           boolean extended) {
        public Settings {
            if (keep.length == 0) throw new IllegalArgumentException("keep ratios: give at least one");
            for (int i = 0; i < keep.length; i++) {
                if (!(keep[i] > 0 && keep[i] < 1)) throw new IllegalArgumentException("keep ratio " + keep[i] + " is outside (0, 1)");
                if (i > 0 && keep[i] < keep[i - 1]) throw new IllegalArgumentException("keep ratios must be ascending (least significant first)");
            }
            if (!(targetShare >= 0 && targetShare <= 1)) throw new IllegalArgumentException("MAC target " + targetShare + " is outside (0, 1]");
            if (prompts < 2) throw new IllegalArgumentException("significance needs at least 2 prompts (a spread over them), got " + prompts);
            if (steps < 1) throw new IllegalArgumentException("significance steps must be >= 1, got " + steps);
            keep = keep.clone();
        }
    }

    public record Ranked(Candidate candidate, double score) {}

    /** The pruned model, the ranking (least significant first), the widths, the ratio scale used and the UNet's MACs. */
    public record Result(Checkpoint model, List<Ranked> ranking, Map<Candidate, Integer> widths, double scale, long macs) {}

    private SignificancePruning() {}

    public static Result apply(Checkpoint model, Settings s, PrintStream log) {
        List<Candidate> candidates = WidthPruning.candidates(model.unet, s.extended());
        int groups = model.unet.config().getInt("norm_num_groups", 32);
        List<GenerateRequest> requests = requests(model, s);
        float[][] reference = finalLatents(model, requests);
        List<Ranked> ranking = new ArrayList<>();
        Progress bar = Progress.items(log, "significance", candidates.size(), "candidates");
        for (Candidate c : candidates) {
            Checkpoint probe = WidthPruning.apply(model, Map.of(c, WidthPruning.width(c, PROBE_KEEP, groups)));
            ranking.add(new Ranked(c, score(reference, finalLatents(probe, requests))));
            bar.update(ranking.size(), c.module());
        }
        ranking.sort(Comparator.comparingDouble(Ranked::score));
        double scale = 1;
        if (s.targetShare() > 0) scale = fitScale(model, ranking, s, groups);
        Map<Candidate, Integer> widths = widths(ranking, s.keep(), scale, groups);
        Checkpoint pruned = WidthPruning.apply(model, widths);
        return new Result(pruned, List.copyOf(ranking), widths, scale, UNetMacs.of(pruned.unet.config()));
    }

    /** Keep ratio by rank (ladder step rank·L/n), scaled, then rounded to each candidate's width. */
    static Map<Candidate, Integer> widths(List<Ranked> ranking, double[] keep, double scale, int groups) {
        Map<Candidate, Integer> w = new LinkedHashMap<>();
        int n = ranking.size();
        for (int r = 0; r < n; r++) {
            double k = Math.min(1, scale * keep[r * keep.length / n]);
            Candidate c = ranking.get(r).candidate();
            w.put(c, WidthPruning.width(c, k, groups));
        }
        return w;
    }

    /** The largest scale of the ladder whose model fits the target (bisection; widths are steps, so MACs fall with the scale). */
    private static double fitScale(Checkpoint model, List<Ranked> ranking, Settings s, int groups) {
        double target = s.targetShare() * s.referenceMacs();
        double lo = 1e-6, hi = 1 / s.keep()[0];
        if (macs(model, ranking, s, hi, groups) <= target) return hi;
        long least = macs(model, ranking, s, lo, groups);
        if (least > target) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "MAC target %.1f%% is out of reach: every candidate at its "
                    + "smallest width leaves %.1f%% of the reference's UNet MACs", 100 * s.targetShare(), 100.0 * least / s.referenceMacs()));
        }
        for (int i = 0; i < 30; i++) {
            double mid = (lo + hi) / 2;
            if (macs(model, ranking, s, mid, groups) <= target) lo = mid;
            else hi = mid;
        }
        return lo;
    }

    private static long macs(Checkpoint model, List<Ranked> ranking, Settings s, double scale, int groups) {
        return UNetMacs.of(WidthPruning.apply(model, widths(ranking, s.keep(), scale, groups)).unet.config());
    }

    /** The scoring set: the evaluation's first {@code prompts} captions and seeds, at the model's sampling defaults. */
    static List<GenerateRequest> requests(Checkpoint model, Settings s) {
        SamplingDefaults d = model.samplingDefaults;
        List<GenerateRequest> out = new ArrayList<>();
        int size = s.size();
        for (EvalPlan.Job j : EvalPlan.of(s.prompts(), s.seed()).jobs()) {
            out.add(new GenerateRequest(j.prompt(), "", s.steps(), d.cfg(), d.cfgMaxTimestep(), d.scheduler(), j.seed(), size, size, null, null, 1f));
        }
        return out;
    }

    /** Each request's final latents, denoised together in batches of up to 16 by a denoiser over the in-memory model. */
    static float[][] finalLatents(Checkpoint model, List<GenerateRequest> requests) {
        try (Denoiser d = Denoiser.open(model, false, Denoiser.Layers.DENSE)) {
            float[][] out = new float[requests.size()][];
            for (int start = 0; start < requests.size(); start += 16) {
                List<DenoiseSession> sessions = new ArrayList<>();
                for (int i = start; i < Math.min(requests.size(), start + 16); i++) {
                    GenerateRequest r = requests.get(i);
                    if (r.width() == 0) r = r.withSize(d.defaultImageSize(), d.defaultImageSize());
                    sessions.add(d.start(r));
                }
                d.run(sessions, null);
                for (int k = 0; k < sessions.size(); k++) out[start + k] = sessions.get(k).latents().clone();
            }
            return out;
        }
    }

    /** Hybrid SD's score: the L2 distances of the per-value mean and standard deviation over the batch. */
    static double score(float[][] reference, float[][] pruned) {
        int n = reference[0].length, b = reference.length;
        double mean = 0, std = 0;
        for (int i = 0; i < n; i++) {
            double[] a = moments(reference, i, b), p = moments(pruned, i, b);
            mean += (a[0] - p[0]) * (a[0] - p[0]);
            std += (a[1] - p[1]) * (a[1] - p[1]);
        }
        return Math.sqrt(mean) + Math.sqrt(std);
    }

    /** Mean and population standard deviation (numpy's std, as Hybrid SD's score uses) of value {@code i} over the batch. */
    private static double[] moments(float[][] z, int i, int b) {
        double s = 0, q = 0;
        for (float[] row : z) s += row[i];
        double m = s / b;
        for (float[] row : z) q += (row[i] - m) * (row[i] - m);
        return new double[]{m, Math.sqrt(q / b)};
    }
}
