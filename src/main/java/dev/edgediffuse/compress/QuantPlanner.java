package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.QuantLayout;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code convert --target-bits/--target-mb}: the model's plannable UNet layers, their sensitivity entries and the
 * user's rules (which fix the layers they match) turned into a {@link MixedPrecision} plan, and the plan into rules
 * ({@code unet/<tensor>=<format>}) that follow the user's in the {@link FormatPlan}.
 */
public final class QuantPlanner {
    /** The plan, each planned tensor's weight count, the rules it becomes, and what the budget was. */
    public record Result(MixedPrecision.Plan plan, Map<String, Long> params, List<FormatPlan.Rule> rules, String budget) {
        public void print(PrintStream out) {
            out.printf(Locale.ROOT, "plan for %s: %d layers, %.3f average bits per planned weight (%.1f M weights), predicted output MSE %.4g%n",
                    budget, plan.formats().size(), plan.averageBits(), plan.params() / 1e6, plan.predictedMse());
            plan.perFormat(params).forEach((f, c) -> out.printf(Locale.ROOT, "  %-7s %4d layers %9.2f M weights%n", f, c[0], c[1] / 1e6));
        }
    }

    private QuantPlanner() {}

    public static Result plan(Checkpoint cp, Sensitivity.Table table, FormatPlan userRules, Double targetBits, Double targetMb) {
        Map<String, List<Sensitivity.Entry>> measured = table.byTensor();
        Map<String, List<Sensitivity.Entry>> options = new LinkedHashMap<>();
        Map<String, Sensitivity.Entry> fixed = new LinkedHashMap<>();
        Map<String, Long> params = new LinkedHashMap<>();
        long otherBytes = 0;
        for (Map.Entry<String, ModelTensor> e : cp.unet.tensors().entrySet()) {
            String name = e.getKey();
            ModelTensor t = e.getValue();
            String ruled = "unet/" + name;
            if (!Sensitivity.plannable(name, t.shape())) {
                otherBytes += bytes(userRules.decide(ruled, t.get()).format(), t.shape());
                continue;
            }
            params.put(name, t.size());
            List<Sensitivity.Entry> rows = measured.getOrDefault(name, List.of());
            if (userRules.ruleFor(ruled) != null) {
                DType f = userRules.decide(ruled, t.get()).format();
                double mse = 0;
                for (Sensitivity.Entry r : rows) if (r.format() == f) mse = r.mse();
                fixed.put(name, new Sensitivity.Entry(name, t.size(), f, Sensitivity.bits(f, t.shape()), mse, false));
                continue;
            }
            if (rows.isEmpty()) {
                throw new IllegalArgumentException("the sensitivity table has no entries for unet/" + name + ": run edgediffuse sensitivity again");
            }
            options.put(name, rows);
        }
        long planned = 0;
        for (long p : params.values()) planned += p;
        double budget;
        String text;
        if (targetBits != null) {
            if (!(targetBits > 0)) throw new IllegalArgumentException("--target-bits must be > 0, got " + targetBits);
            budget = targetBits * planned;
            text = String.format(Locale.ROOT, "%.3f bits per weight", targetBits);
        } else {
            if (!(targetMb > 0)) throw new IllegalArgumentException("--target-mb must be > 0, got " + targetMb);
            budget = (targetMb * 1048576.0 - otherBytes) * 8;
            text = String.format(Locale.ROOT, "a %.1f MiB UNet (%.1f MiB of it not planned)", targetMb, otherBytes / 1048576.0);
        }
        MixedPrecision.Plan plan;
        try {
            plan = MixedPrecision.plan(options, fixed, budget);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException((targetBits != null ? "--target-bits " + targetBits : "--target-mb " + targetMb) + ": " + e.getMessage());
        }
        List<FormatPlan.Rule> rules = new ArrayList<>();
        plan.formats().forEach((name, f) -> {
            if (plan.why().get(name).equals("plan")) rules.add(FormatPlan.rule("unet/" + name, f.formatName()));
        });
        return new Result(plan, params, rules, text);
    }

    /** Average storage bits per plannable UNet weight of a converted UNet, low-rank branches included. */
    public static double bitsPerPlannedWeight(Component unet) {
        double bits = 0;
        long n = 0;
        for (ModelTensor t : unet.tensors().values()) {
            if (Sensitivity.plannable(t.name(), t.shape())) {
                bits += bytes(t.dtype(), t.shape()) * 8.0;
                n += t.size();
            } else if (t.name().endsWith(".lowrank_down.weight") || t.name().endsWith(".lowrank_up.weight")) {
                bits += bytes(t.dtype(), t.shape()) * 8.0;
            }
        }
        return bits / Math.max(1, n);
    }

    static long bytes(DType f, int[] shape) {
        if (f.quantized()) return QuantLayout.of(f, shape).totalBytes();
        long n = 1;
        for (int d : shape) n *= d;
        return n * f.bytes;
    }
}
