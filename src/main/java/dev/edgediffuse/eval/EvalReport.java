package dev.edgediffuse.eval;

import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.Json;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The figures of one evaluation, as text for people and JSON for machines. */
public record EvalReport(String model, int samples, int testImages, int featureDim, double classifierTestAccuracy,
                         Accuracy accuracy, FrechetDistance.Terms fidTerms, Floor floor, Throughput throughput, Latency latency,
                         Fidelity fidelity, Grid grid, Accuracy heldOut) {
    /** Targets of the issue for EdgeDiffuse-Mini at 20–30 steps. */
    public static final double TARGET_ACCURACY = 0.90, TARGET_FID_RATIO = 3.0;
    /**
     * The FID target is set at 10,000 generated vs 10,000 test images. FID's bias grows as samples shrink, the
     * floor's faster than a model's, so a ratio from fewer images reads better than it is and is not judged.
     */
    public static final int TARGET_FID_IMAGES = 10_000;

    public double fid() {
        return fidTerms.total();
    }

    /** Prompt accuracy: per class (correct of total) and overall. */
    public record Accuracy(int[] correct, int[] total, double overall) {
        public static Accuracy of(int[] predicted, int[] labels, int classes) {
            int[] correct = new int[classes], total = new int[classes];
            int all = 0;
            for (int i = 0; i < labels.length; i++) {
                total[labels[i]]++;
                if (predicted[i] == labels[i]) {
                    correct[labels[i]]++;
                    all++;
                }
            }
            return new Accuracy(correct, total, labels.length == 0 ? 0 : all / (double) labels.length);
        }

        public double of(int c) {
            return total[c] == 0 ? Double.NaN : correct[c] / (double) total[c];
        }
    }

    /**
     * FID of a class-balanced training subset of {@code images} against the test set: what real data scores; and
     * (NaN if the model has no autoencoder) of the same images after the model's VAE round trip: the best its
     * decoder allows, which tells the autoencoder's share of the model's FID from the denoiser's; and of the same
     * images blurred by Gaussians of a few widths: a scale for how much of a FID is lost sharpness (these features
     * barely move under noise or contrast changes, but blur moves them far).
     */
    public record Floor(int images, double fid, double autoencoderFid, List<Blurred> blurred) {}

    /** FID of the floor's real images after a Gaussian blur of {@code sigma} pixels. */
    public record Blurred(double sigma, double fid) {}

    /** Batched generation: images, seconds of generation only, images/s and ms per image amortized over a batch. */
    public record Throughput(int images, double seconds, double imagesPerSecond, double msPerImage, int batch) {}

    /** Single-image (batch 1) end-to-end generation time, after a warm-up run. */
    public record Latency(int runs, double medianMs, double minMs, double maxMs) {}

    /** Agreement with a reference model on identical prompts, seeds and initial noise. */
    public record Fidelity(String reference, double psnrMean, double psnrMin, int identicalImages, double ssimMean,
                           int classChanges, double classChangeShare, Accuracy referenceAccuracy, double referenceFid) {}

    /** The first images (RGB bytes) for a contact sheet. */
    public record Grid(List<byte[]> images, int width, int height) {}

    /** This report with the prompt accuracy on the held-out everyday prompts ({@link EvalPlan#heldOut}). */
    public EvalReport withHeldOut(Accuracy a) {
        return new EvalReport(model, samples, testImages, featureDim, classifierTestAccuracy, accuracy, fidTerms, floor, throughput,
                latency, fidelity, grid, a);
    }

    public double fidRatio() {
        return floor == null || floor.fid() <= 0 ? Double.NaN : fid() / floor.fid();
    }

    /** Whether FID is within the target ratio of the floor; null without a floor or below the target's image counts. */
    public Boolean fidRatioMet() {
        if (floor == null || samples < TARGET_FID_IMAGES || testImages < TARGET_FID_IMAGES) return null;
        return fidRatio() <= TARGET_FID_RATIO;
    }

    public String text() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("model: %s, %d images (prompts cycling over the %d classes), classifier test accuracy %.2f%%%n", model,
                samples, accuracy.total().length, 100 * classifierTestAccuracy));
        b.append(String.format("prompt accuracy: %.2f%% (target >= %.0f%%: %s)%n", 100 * accuracy.overall(), 100 * TARGET_ACCURACY,
                accuracy.overall() >= TARGET_ACCURACY ? "met" : "not met"));
        b.append(perClass(accuracy));
        if (heldOut != null) {
            b.append(String.format("prompt accuracy on held-out everyday prompts: %.2f%% (%d images)%n", 100 * heldOut.overall(),
                    java.util.Arrays.stream(heldOut.total()).sum()));
            b.append(perClass(heldOut));
        }
        b.append(String.format("FID (classifier features, %d-d): %.3f (means %.3f + covariances %.3f), %d generated vs %d test images%n",
                featureDim, fid(), fidTerms.means(), fidTerms.covariances(), samples, testImages));
        if (floor != null) {
            Boolean met = fidRatioMet();
            b.append(String.format("real-vs-real floor: %.3f (%d train vs %d test); ratio %.2fx (target <= %.0fx: %s)%n", floor.fid(),
                    floor.images(), testImages, fidRatio(), TARGET_FID_RATIO, met == null
                            ? "judged at " + TARGET_FID_IMAGES + " vs " + TARGET_FID_IMAGES + " images only" : met ? "met" : "not met"));
            if (!Double.isNaN(floor.autoencoderFid())) {
                b.append(String.format("autoencoder ceiling: %.3f (the same train images through the model's VAE; %.2fx the floor)%n",
                        floor.autoencoderFid(), floor.autoencoderFid() / floor.fid()));
            }
            if (!floor.blurred().isEmpty()) {
                List<String> each = floor.blurred().stream().map(x -> String.format("%.3f (sigma %.1f px)", x.fid(), x.sigma())).toList();
                b.append("blurred real images: ").append(String.join(", ", each)).append(" (the same train images, Gaussian blur)\n");
            }
        }
        b.append(String.format("generation: %d images in %.1f s, %.2f images/s, %.1f ms/image (batches of %d)%n", throughput.images(),
                throughput.seconds(), throughput.imagesPerSecond(), throughput.msPerImage(), throughput.batch()));
        if (latency != null) {
            b.append(String.format("latency (one image, batch 1): median %.1f ms, min %.1f, max %.1f over %d runs%n", latency.medianMs(),
                    latency.minMs(), latency.maxMs(), latency.runs()));
        }
        if (fidelity != null) {
            b.append(String.format("fidelity to %s: PSNR %.2f dB mean (min %.2f; %d identical images, PSNR capped at %.0f), SSIM %.4f, "
                            + "predicted class changed %.2f%% (%d of %d)%n", fidelity.reference(), fidelity.psnrMean(), fidelity.psnrMin(),
                    fidelity.identicalImages(), Evaluator.PSNR_CAP, fidelity.ssimMean(), 100 * fidelity.classChangeShare(),
                    fidelity.classChanges(), samples));
            b.append(String.format("reference: prompt accuracy %.2f%%, FID %.3f%n", 100 * fidelity.referenceAccuracy().overall(),
                    fidelity.referenceFid()));
        }
        return b.toString();
    }

    private static String perClass(Accuracy a) {
        StringBuilder b = new StringBuilder();
        for (int c = 0; c < a.total().length; c++) {
            if (a.total()[c] == 0) continue;
            b.append(String.format("  %-11s %6.2f%% (%d/%d)%n", FashionMnist.CLASSES[c], 100 * a.of(c), a.correct()[c], a.total()[c]));
        }
        return b.toString();
    }

    /** The report as a JSON object; {@code settings} (steps, cfg, ...) is included as given. */
    public String json(Map<String, Object> settings) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("settings", settings);
        m.put("samples", samples);
        m.put("classifier_test_accuracy", num(classifierTestAccuracy));
        m.put("prompt_accuracy", accuracyJson(accuracy));
        if (heldOut != null) m.put("held_out_prompt_accuracy", accuracyJson(heldOut));
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("fid", num(fid()));
        f.put("fid_means_term", num(fidTerms.means()));
        f.put("fid_covariances_term", num(fidTerms.covariances()));
        f.put("feature_dim", featureDim);
        f.put("generated_images", samples);
        f.put("test_images", testImages);
        if (floor != null) {
            f.put("real_vs_real_floor", num(floor.fid()));
            f.put("floor_train_images", floor.images());
            f.put("ratio_to_floor", num(fidRatio()));
            f.put("autoencoder_ceiling", Double.isNaN(floor.autoencoderFid()) ? null : num(floor.autoencoderFid()));
            Map<String, Object> blurred = new LinkedHashMap<>();
            for (Blurred x : floor.blurred()) blurred.put(Double.toString(x.sigma()), num(x.fid()));
            f.put("blurred_real_fid", blurred);
        }
        m.put("fid", f);
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("images", throughput.images());
        g.put("seconds", num(throughput.seconds()));
        g.put("images_per_second", num(throughput.imagesPerSecond()));
        g.put("ms_per_image", num(throughput.msPerImage()));
        g.put("batch", throughput.batch());
        if (latency != null) {
            g.put("latency_runs", latency.runs());
            g.put("latency_median_ms", num(latency.medianMs()));
            g.put("latency_min_ms", num(latency.minMs()));
            g.put("latency_max_ms", num(latency.maxMs()));
        }
        m.put("generation", g);
        if (fidelity != null) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("reference", fidelity.reference());
            r.put("psnr_mean_db", num(fidelity.psnrMean()));
            r.put("psnr_min_db", num(fidelity.psnrMin()));
            r.put("psnr_cap_db", Evaluator.PSNR_CAP);
            r.put("identical_images", fidelity.identicalImages());
            r.put("ssim_mean", num(fidelity.ssimMean()));
            r.put("class_changes", fidelity.classChanges());
            r.put("class_change_share", num(fidelity.classChangeShare()));
            r.put("reference_prompt_accuracy", accuracyJson(fidelity.referenceAccuracy()));
            r.put("reference_fid", num(fidelity.referenceFid()));
            m.put("fidelity", r);
        }
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("prompt_accuracy_min", TARGET_ACCURACY);
        t.put("prompt_accuracy_met", accuracy.overall() >= TARGET_ACCURACY);
        t.put("fid_ratio_max", TARGET_FID_RATIO);
        t.put("fid_ratio_met", fidRatioMet());
        m.put("targets", t);
        return Json.write(m) + "\n";
    }

    private static Map<String, Object> accuracyJson(Accuracy a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("overall", num(a.overall()));
        Map<String, Object> per = new LinkedHashMap<>();
        for (int c = 0; c < a.total().length; c++) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("accuracy", a.total()[c] == 0 ? null : num(a.of(c)));
            e.put("correct", a.correct()[c]);
            e.put("total", a.total()[c]);
            per.put(FashionMnist.CLASSES[c], e);
        }
        m.put("per_class", per);
        return m;
    }

    /** JSON has no NaN or infinity: those become null. */
    private static Object num(double v) {
        return Double.isFinite(v) ? (Object) v : null;
    }

    /** The contact sheet: rows of 10 images (one per class, in the plan's order). */
    public byte[] gridRgb(int[] sizeOut) {
        int cols = FashionMnist.CLASSES.length, n = grid.images().size(), rows = (n + cols - 1) / cols;
        int w = grid.width(), h = grid.height(), gw = cols * w, gh = rows * h;
        byte[] out = new byte[gw * gh * 3];
        for (int i = 0; i < n; i++) {
            byte[] img = grid.images().get(i);
            int ox = (i % cols) * w, oy = (i / cols) * h;
            for (int y = 0; y < h; y++) System.arraycopy(img, y * w * 3, out, ((oy + y) * gw + ox) * 3, w * 3);
        }
        sizeOut[0] = gw;
        sizeOut[1] = gh;
        return out;
    }
}
