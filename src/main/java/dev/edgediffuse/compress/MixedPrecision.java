package dev.edgediffuse.compress;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.tensor.DType;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Automatic mixed precision: each planned layer's format chosen from its {@link Sensitivity} entries so that the
 * summed output error is least while the layers' storage stays within a bit budget — a multiple-choice knapsack,
 * solved exactly by dynamic programming over the budget above every layer's cheapest format (cut into
 * {@value #UNITS} units, costs rounded up, so the plan never exceeds the budget). Layers fixed by the user's rules
 * take their format and count against the budget.
 */
public final class MixedPrecision {
    static final int UNITS = 100_000;

    /** What was chosen: per tensor a format, and the totals. */
    public record Plan(Map<String, DType> formats, Map<String, String> why, double bits, long params, double predictedMse, double budgetBits) {
        public double averageBits() {
            return bits / params;
        }

        /** Tensors and weights per format. */
        public Map<String, long[]> perFormat(Map<String, Long> params) {
            Map<String, long[]> m = new TreeMap<>();
            formats.forEach((t, f) -> {
                long[] c = m.computeIfAbsent(f.formatName(), k -> new long[2]);
                c[0]++;
                c[1] += params.get(t);
            });
            return m;
        }

        public String json(Map<String, Long> params, Map<String, String> settings) {
            Map<String, Object> root = new LinkedHashMap<>();
            root.put("settings", settings);
            root.put("average_bits", averageBits());
            root.put("budget_bits_per_weight", budgetBits / this.params);
            root.put("planned_weights", this.params);
            root.put("predicted_output_mse", predictedMse);
            Map<String, Object> layers = new LinkedHashMap<>();
            formats.forEach((t, f) -> {
                Map<String, Object> l = new LinkedHashMap<>();
                l.put("format", f.formatName());
                l.put("params", params.get(t));
                l.put("why", why.get(t));
                layers.put(t, l);
            });
            root.put("layers", layers);
            return Json.write(root) + "\n";
        }
    }

    private MixedPrecision() {}

    /**
     * Chooses formats for the tensors of {@code options} (each layer's candidates: format, bits per weight, output
     * MSE) within {@code budgetBits} in total, counting {@code fixed} (tensor → format, with its bits) in the budget.
     */
    public static Plan plan(Map<String, List<Sensitivity.Entry>> options, Map<String, Sensitivity.Entry> fixed, double budgetBits) {
        List<String> names = new ArrayList<>(options.keySet());
        double fixedBits = 0, fixedMse = 0, minBits = 0;
        long params = 0;
        Map<String, DType> formats = new LinkedHashMap<>();
        Map<String, String> why = new LinkedHashMap<>();
        for (Sensitivity.Entry e : fixed.values()) {
            fixedBits += e.bits() * e.params();
            fixedMse += e.mse();
            params += e.params();
        }
        for (String n : names) {
            List<Sensitivity.Entry> opts = options.get(n);
            if (opts.isEmpty()) throw new IllegalArgumentException(n + ": no candidate format");
            minBits += cheapest(opts).bits() * opts.getFirst().params();
            params += opts.getFirst().params();
        }
        double extra = budgetBits - fixedBits - minBits;
        if (extra < -1e-6 * budgetBits) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "a budget of %.3f bits per weight is below what the smallest "
                    + "formats allow (%.3f: every planned layer in its smallest candidate format%s)", budgetBits / params,
                    (fixedBits + minBits) / params, fixed.isEmpty() ? "" : ", the layers fixed by rules as they ask"));
        }
        double unit = Math.max(extra, 1) / UNITS;
        int layers = names.size();
        double[] best = new double[UNITS + 1];
        byte[][] choice = new byte[layers][UNITS + 1];
        for (int i = 0; i < layers; i++) {
            List<Sensitivity.Entry> opts = options.get(names.get(i));
            double base = cheapest(opts).bits();
            int[] cost = new int[opts.size()];
            for (int o = 0; o < opts.size(); o++) {
                double c = Math.ceil((opts.get(o).bits() - base) * opts.get(o).params() / unit - 1e-9);
                cost[o] = (int) Math.min(Integer.MAX_VALUE, Math.max(0, c));
            }
            double[] next = new double[UNITS + 1];
            for (int b = 0; b <= UNITS; b++) {
                double v = Double.POSITIVE_INFINITY;
                int pick = -1;
                for (int o = 0; o < opts.size(); o++) {
                    if (cost[o] > b) continue;
                    double s = best[b - cost[o]] + opts.get(o).mse();
                    if (s < v || (s == v && pick >= 0 && opts.get(o).bits() < opts.get(pick).bits())) {
                        v = s;
                        pick = o;
                    }
                }
                next[b] = v;
                choice[i][b] = (byte) pick;
            }
            best = next;
        }
        double bits = fixedBits, mse = fixedMse;
        int b = UNITS;
        for (int i = layers - 1; i >= 0; i--) {
            List<Sensitivity.Entry> opts = options.get(names.get(i));
            int pick = choice[i][b];
            Sensitivity.Entry e = opts.get(pick);
            double base = cheapest(opts).bits();
            b -= (int) Math.max(0, Math.ceil((e.bits() - base) * e.params() / unit - 1e-9));
            formats.put(names.get(i), e.format());
            why.put(names.get(i), "plan");
            bits += e.bits() * e.params();
            mse += e.mse();
        }
        Map<String, DType> ordered = new LinkedHashMap<>();
        Map<String, String> orderedWhy = new LinkedHashMap<>();
        for (Map.Entry<String, Sensitivity.Entry> e : fixed.entrySet()) {
            ordered.put(e.getKey(), e.getValue().format());
            orderedWhy.put(e.getKey(), "rule");
        }
        for (String n : names) {
            ordered.put(n, formats.get(n));
            orderedWhy.put(n, why.get(n));
        }
        return new Plan(ordered, orderedWhy, bits, params, mse, budgetBits);
    }

    private static Sensitivity.Entry cheapest(List<Sensitivity.Entry> opts) {
        Sensitivity.Entry c = opts.getFirst();
        for (Sensitivity.Entry e : opts) if (e.bits() < c.bits()) c = e;
        return c;
    }
}
