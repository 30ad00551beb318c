package dev.edgediffuse.cli;

import dev.edgediffuse.kernels.Flops;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Memory;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.progress.Progress;
import dev.edgediffuse.speedup.SelfAttentionProbe;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.tensor.FeatureMap;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * bench with speed-ups: per size, one model; whole denoising runs (CFG, Euler) without speed-ups, with each one asked
 * for and with both, stepped in turn, their UNet seconds per step and per image side by side, and the peak memory
 * of one step of each on its own; with --attention-share also the UNet's calls with self-attention reduced to one
 * token (what it costs).
 */
final class SpeedUpBench {
    private static final String PROMPT = "a lighthouse on a cliff at dusk, detailed";
    private final Path model;
    private final Pipeline.Options options;
    private final int steps;
    private final SpeedUps speedUps;
    private final boolean attentionShare;
    private final PrintStream progress;

    record Report(List<Map<String, Object>> variants, List<Map<String, Object>> attentionShare) {
        void print(PrintStream out) {
            out.println("| size | run | UNet s/step (median) | UNet s/image | step speed-up | image speed-up | UNet GFLOP/step | peak RSS MiB (one step) | allocated MiB/step |");
            out.println("|---|---|---|---|---|---|---|---|---|");
            for (Map<String, Object> v : variants) {
                out.printf("| %s | %s | %s | %s | %s× | %s× | %s | %s | %s |%n", v.get("size"), v.get("run"), v.get("unet_step_s"),
                        v.get("unet_image_s"), v.get("step_speedup"), v.get("image_speedup"), v.get("unet_step_gflop"),
                        v.get("peak_rss_mib"), v.get("unet_step_alloc_mib"));
            }
            if (attentionShare.isEmpty()) return;
            out.println();
            out.println("| size | UNet s/call (batch 2) | self-attention on one token: full resolution | everywhere | self-attention share of the time: full resolution | everywhere | UNet GFLOP/call | share of the FLOPs: full resolution | everywhere |");
            out.println("|---|---|---|---|---|---|---|---|---|");
            for (Map<String, Object> a : attentionShare) {
                out.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", a.get("size"), a.get("unet_s"), a.get("probe_full_res_s"),
                        a.get("probe_all_s"), a.get("share_full_res"), a.get("share_all"), a.get("unet_gflop"),
                        a.get("flop_share_full_res"), a.get("flop_share_all"));
            }
        }
    }

    SpeedUpBench(Path model, Pipeline.Options options, int steps, SpeedUps speedUps, boolean attentionShare, PrintStream progress) {
        this.model = model;
        this.options = options;
        this.steps = steps;
        this.speedUps = speedUps;
        this.attentionShare = attentionShare;
        this.progress = progress;
    }

    /** The runs: none, each speed-up asked for, and both when both are. */
    private List<SpeedUps> runs() {
        List<SpeedUps> runs = new ArrayList<>(List.of(SpeedUps.NONE));
        if (speedUps.tokenMerge() != null) runs.add(new SpeedUps(speedUps.tokenMerge(), null));
        if (speedUps.deepCache() != null) runs.add(new SpeedUps(null, speedUps.deepCache()));
        if (speedUps.tokenMerge() != null && speedUps.deepCache() != null) runs.add(speedUps);
        return runs;
    }

    Report run(int[] sizes) {
        List<Map<String, Object>> variants = new ArrayList<>(), shares = new ArrayList<>();
        List<SpeedUps> runs = runs();
        for (int size : sizes) {
            try (Pipeline p = Pipeline.load(model, options)) {
                Denoiser d = p.denoiser();
                GenerateRequest base = GenerateRequest.of(PROMPT).withSize(size, size).withSteps(steps).withScheduler("euler");
                for (SpeedUps s : runs) base.withSpeedUps(s).validate(); // a bad setting fails before the first step
                // one step of each run on its own: the peak memory while it runs (a first step is a full one), and
                // the warm-up (compiled kernels, weights paged in) before anything is timed
                long[] peaks = new long[runs.size()];
                for (int i = 0; i < runs.size(); i++) {
                    Memory.resetPeak();
                    d.step(List.of(d.start(base.withSpeedUps(runs.get(i)))));
                    peaks[i] = Memory.peakRss();
                }
                // the timed runs step in turn, so the shared machine's drift touches each alike
                List<DenoiseSession> sessions = new ArrayList<>();
                for (SpeedUps s : runs) sessions.add(d.start(base.withSpeedUps(s)));
                Progress bar = Progress.steps(progress, "bench " + size + "² step", steps);
                for (int k = 0; k < steps; k++) {
                    for (DenoiseSession s : sessions) d.step(List.of(s));
                    bar.step(k + 1);
                }
                Map<String, Object> baseline = null;
                for (int i = 0; i < runs.size(); i++) {
                    Map<String, Object> row = row(size, runs.get(i), sessions.get(i), peaks[i], baseline);
                    if (baseline == null) baseline = row;
                    variants.add(row);
                }
                if (attentionShare) shares.add(attentionShare(d, base, size));
            }
        }
        return new Report(variants, shares);
    }

    private Map<String, Object> row(int size, SpeedUps s, DenoiseSession session, long peak, Map<String, Object> baseline) {
        double[] seconds = session.stepSeconds();
        double perImage = Arrays.stream(seconds).sum(), step = median(seconds);
        long[] alloc = session.stepAllocatedBytes();
        Arrays.sort(alloc);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("size", size);
        m.put("run", s.label());
        m.put("unet_step_s", BenchCommand.round(step));
        m.put("unet_image_s", BenchCommand.round(perImage));
        m.put("step_speedup", baseline == null ? 1.0 : BenchCommand.round((Double) baseline.get("unet_step_s") / step));
        m.put("image_speedup", baseline == null ? 1.0 : BenchCommand.round((Double) baseline.get("unet_image_s") / perImage));
        m.put("unet_step_gflop", BenchCommand.round(2.0 * session.unetMacs() / seconds.length / 1e9));
        m.put("peak_rss_mib", peak < 0 ? -1 : peak / 1048576);
        m.put("unet_step_alloc_mib", BenchCommand.round(alloc[alloc.length / 2] / 1048576.0));
        return m;
    }

    /** UNet calls (batch 2, as with CFG) as they are and with self-attention on one token: what it takes of a call. */
    private Map<String, Object> attentionShare(Denoiser d, GenerateRequest base, int size) {
        UNet2DConditionModel unet = d.unet();
        int[] shape = d.latentShape(base);
        Random r = new Random(1);
        float[] latents = new float[2 * shape[0] * shape[1] * shape[2]];
        for (int i = 0; i < latents.length; i++) latents[i] = (float) r.nextGaussian();
        float[] context = d.encodePrompt(base), t = {500f, 500f};
        UNetHooks[] hooks = {UNetHooks.NONE, UNetHooks.NONE.withTokenMerge(new SelfAttentionProbe(1)),
                UNetHooks.NONE.withTokenMerge(new SelfAttentionProbe(Integer.MAX_VALUE))};
        double[][] seconds = new double[hooks.length][Math.max(2, steps)];
        long[] macs = new long[hooks.length];
        // interleaved, so drift on a shared machine touches each alike
        for (int k = 0; k < seconds[0].length; k++) {
            for (int h = 0; h < hooks.length; h++) {
                long t0 = System.nanoTime(), m0 = Flops.macs();
                unet.predict(new FeatureMap(latents.clone(), 2, shape[1], shape[2], shape[0]), t, context, context.length / 2 / d.contextDim(), hooks[h]);
                seconds[h][k] = (System.nanoTime() - t0) / 1e9;
                macs[h] = Flops.macs() - m0;
            }
            if (progress != null) progress.printf("attention share %d: call %d of %d%n", size, k + 1, seconds[0].length);
        }
        double none = median(seconds[0]), fullRes = median(seconds[1]), all = median(seconds[2]);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("size", size);
        m.put("unet_s", BenchCommand.round(none));
        m.put("probe_full_res_s", BenchCommand.round(fullRes));
        m.put("probe_all_s", BenchCommand.round(all));
        m.put("share_full_res", BenchCommand.round(1 - fullRes / none));
        m.put("share_all", BenchCommand.round(1 - all / none));
        // the same shares of the multiply-adds: exact, whatever else the machine runs
        m.put("unet_gflop", BenchCommand.round(2.0 * macs[0] / 1e9));
        m.put("flop_share_full_res", BenchCommand.round(1 - (double) macs[1] / macs[0]));
        m.put("flop_share_all", BenchCommand.round(1 - (double) macs[2] / macs[0]));
        return m;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
