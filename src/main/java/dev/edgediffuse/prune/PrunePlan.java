package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.ModelTensor;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The pruning passes a command or a distillation recipe asks for, in their one sensible order: block removal
 * ({@code preset}, null: none), then significance pruning of the widths ({@code significance}, null: none; its MAC
 * target is a share of the input model's UNet), then magnitude pruning ({@code magnitude}, 0: none).
 */
public record PrunePlan(BlockRemoval.Preset preset, Significance significance, double magnitude) {
    /** Significance settings without the reference MACs, which the plan measures on its input. */
    public record Significance(double targetShare, double[] keep, int prompts, int steps, int size, long seed, boolean extended) {}

    /** The pruned model and what each pass did (JSON-ready: MACs, parameters, the ranking and widths). */
    public record Result(Checkpoint model, Map<String, Object> report) {}

    public boolean empty() {
        return preset == null && significance == null && magnitude == 0;
    }

    public Result run(Checkpoint model, PrintStream log) {
        long macs0 = UNetMacs.of(model.unet.config()), params0 = parameters(model);
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("unet_macs", macs0);
        report.put("unet_parameters", params0);
        Checkpoint m = model;
        if (preset != null) {
            m = BlockRemoval.apply(m, preset);
            Map<String, Object> r = step(m, macs0);
            r.put("preset", preset.label());
            report.put("blocks", r);
            note(log, "blocks (" + preset.label() + ")", r);
        }
        if (significance != null) {
            Significance s = significance;
            var settings = new SignificancePruning.Settings(s.targetShare(), macs0, s.keep(), s.prompts(), s.steps(), s.size(), s.seed(), s.extended());
            SignificancePruning.Result res = SignificancePruning.apply(m, settings, log);
            m = res.model();
            Map<String, Object> r = step(m, macs0);
            r.put("target_share", s.targetShare());
            r.put("keep", java.util.Arrays.stream(s.keep()).boxed().toList());
            r.put("ratio_scale", res.scale());
            r.put("prompts", s.prompts());
            r.put("steps", s.steps());
            r.put("seed", s.seed());
            List<Map<String, Object>> ranking = new ArrayList<>();
            for (SignificancePruning.Ranked k : res.ranking()) {
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("module", k.candidate().module());
                e.put("kind", k.candidate().kind().name().toLowerCase(java.util.Locale.ROOT));
                e.put("score", k.score());
                e.put("full", k.candidate().full());
                e.put("kept", res.widths().get(k.candidate()));
                ranking.add(e);
            }
            r.put("ranking", ranking);
            report.put("significance", r);
            note(log, "significance", r);
        }
        if (magnitude > 0) {
            m = MagnitudePruning.apply(m, magnitude);
            long zeroed = 0, total = 0;
            for (ModelTensor t : m.unet.tensors().values()) {
                if (t.shape().length >= 2) {
                    zeroed += MagnitudePruning.zeroed(t.size(), magnitude);
                    total += t.size();
                }
            }
            Map<String, Object> r = step(m, macs0);
            r.put("share", magnitude);
            r.put("zeroed", zeroed);
            r.put("of_layer_weights", total);
            report.put("magnitude", r);
            note(log, "magnitude", r);
        }
        return new Result(m, report);
    }

    private static Map<String, Object> step(Checkpoint m, long reference) {
        Map<String, Object> r = new LinkedHashMap<>();
        long macs = UNetMacs.of(m.unet.config());
        r.put("unet_macs", macs);
        r.put("unet_macs_share", macs / (double) reference);
        r.put("unet_parameters", parameters(m));
        return r;
    }

    private static void note(PrintStream log, String what, Map<String, Object> r) {
        if (log != null) {
            log.printf(java.util.Locale.ROOT, "prune %s: UNet %.2f M MACs (%.1f%% of the input's), %,d parameters%n", what,
                    ((Number) r.get("unet_macs")).longValue() / 1e6, 100 * ((Number) r.get("unet_macs_share")).doubleValue(), r.get("unet_parameters"));
        }
    }

    static long parameters(Checkpoint m) {
        long n = 0;
        for (ModelTensor t : m.unet.tensors().values()) n += t.size();
        return n;
    }
}
