package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Memory;
import dev.edgediffuse.pipeline.Pipeline;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One image with a model's own sampling defaults (speed-ups included), timed in a fresh JVM so the peak resident
 * memory is that model's alone: {@code SpeedProbe MODEL SIZE PROMPT WARMUP_S TIMED_S}. Prints one JSON line: UNet seconds per step
 * (the mean, and the median) and per image, VAE seconds, peak RSS; after three seconds of warm-up images, the median of
 * up to three timed images. The report's parent process starts it.
 */
public final class SpeedProbe {
    private SpeedProbe() {}

    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        int size = Integer.parseInt(args[1]);
        String prompt = args[2];
        long warmNanos = (long) (Double.parseDouble(args[3]) * 1e9), timedNanos = (long) (Double.parseDouble(args[4]) * 1e9);
        Memory.resetPeak();
        try (Pipeline p = Pipeline.load(model)) {
            SamplingDefaults d = p.samplingDefaults();
            int side = size > 0 ? size : p.defaultImageSize();
            GenerateRequest req = GenerateRequest.of(prompt).withSteps(d.steps()).withCfg(d.cfg()).withCfgMaxTimestep(d.cfgMaxTimestep())
                    .withScheduler(d.scheduler()).withSize(side, side).withSeed(0).withSpeedUps(d.speedUpsFor(d.steps(), d.scheduler()));
            // warm-up (JIT, first page faults): images until WARMUP_S have gone (at least one)
            long warmEnd = System.nanoTime() + warmNanos;
            do p.generate(req, null); while (System.nanoTime() < warmEnd);
            // timed: up to three images within TIMED_S (at least one); the median image counts
            List<GenerateResult> runs = new ArrayList<>();
            long timedEnd = System.nanoTime() + timedNanos;
            do runs.add(p.generate(req.withSeed(1 + runs.size()), null)); while (runs.size() < 3 && System.nanoTime() < timedEnd);
            runs.sort(java.util.Comparator.comparingDouble(x -> x.timings().unetSeconds()));
            GenerateResult r = runs.get(runs.size() / 2);
            double[] steps = r.timings().unetStepSeconds();
            double[] warm = steps.length > 1 ? Arrays.copyOfRange(steps, 1, steps.length) : steps.clone();
            Arrays.sort(warm);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("steps", steps.length);
            m.put("timed_images", runs.size());
            m.put("size", side);
            m.put("unet_s_per_step", r.timings().unetSeconds() / steps.length); // the mean: DeepCache's steps differ
            m.put("unet_s_per_step_median", warm[warm.length / 2]);
            m.put("unet_s_per_image", r.timings().unetSeconds());
            m.put("vae_s", r.timings().vaeSeconds());
            m.put("peak_rss_mib", Math.max(r.timings().peakRssBytes(), Memory.peakRss()) / 1048576.0);
            m.put("speed_ups", req.speedUps().label());
            System.out.println(Json.write(m));
        }
    }
}
