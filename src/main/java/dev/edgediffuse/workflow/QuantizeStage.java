package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.Converter;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.ModelIdentity;
import dev.edgediffuse.compress.QuantPlanner;
import dev.edgediffuse.compress.QuantizePass;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.compress.Rounding;
import dev.edgediffuse.compress.Sensitivity;
import dev.edgediffuse.tensor.DType;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * quantize: per-layer weight formats, as {@code edgediffuse convert}: {@code weights} (a format for every layer), or
 * automatic mixed precision to {@code target_bits} / {@code target_mb} from the calibrate stage's sensitivity table;
 * {@code clip}, {@code rounding} (gptq), {@code lowrank} (+ {@code lowrank_layers}, {@code lowrank_iterations}),
 * {@code keep} globs, {@code layers} {"glob": "format"}, {@code no_default_keep}.
 */
final class QuantizeStage implements Stage {
    private final DType target;
    private final Double targetBits, targetMb;
    private final Rounding rounding;
    private final Quantizer.Clip clip;
    private final int lowRank, lowRankIterations;
    private final List<String> lowRankLayers;
    private final List<FormatPlan.Rule> rules = new ArrayList<>();
    private final boolean defaultKeep;

    QuantizeStage(StageSpec s) {
        String weights = s.string("weights", null);
        targetBits = s.number("target_bits", null, 1, 32);
        targetMb = s.number("target_mb", null, 1e-6, 1e9);
        if (targetBits != null && targetMb != null) throw s.error("\"target_bits\" and \"target_mb\" exclude each other");
        if (weights == null && targetBits == null && targetMb == null) throw s.error("give \"weights\" (a format) or \"target_bits\"/\"target_mb\"");
        target = weights == null ? DType.F16 : FormatPlan.parseFormat(weights);
        if (target == null) throw s.error("\"weights\" must be one of " + FormatPlan.formatNames() + ", got \"" + weights + "\"");
        try {
            String r = s.string("rounding", null), c = s.string("clip", null);
            rounding = r == null ? null : Rounding.parse(r);
            clip = c == null ? null : Quantizer.Clip.parse(c);
        } catch (IllegalArgumentException e) {
            throw s.error(e.getMessage());
        }
        lowRank = s.integer("lowrank", 0, 0, 4096);
        lowRankLayers = s.strings("lowrank_layers", List.of("unet/*transformer_blocks.*"));
        lowRankIterations = s.integer("lowrank_iterations", 5, 0, 1000);
        try {
            for (String g : s.strings("keep", List.of())) rules.add(FormatPlan.rule(g, "keep"));
            for (Map.Entry<String, String> e : s.stringMap("layers").entrySet()) rules.add(FormatPlan.rule(e.getKey(), e.getValue()));
        } catch (IllegalArgumentException e) {
            throw s.error(e.getMessage());
        }
        defaultKeep = !s.bool("no_default_keep", false);
    }

    @Override
    public String kind() {
        return "quantize";
    }

    @Override
    public Effect effect() {
        return Effect.QUANTIZE;
    }

    @Override
    public boolean needsCalibration() {
        return targetBits != null || targetMb != null || rounding == Rounding.GPTQ || lowRank > 0;
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        if (!needsCalibration()) {
            Quantizer.Clip c = clip == null ? Quantizer.Clip.ABSMAX : clip;
            new Converter(new FormatPlan(target, rules, defaultKeep), c, ctx.log()).convert(ctx.input(), ctx.modelOut());
            return;
        }
        SamplingDefaults defaults = SamplingDefaults.forModel(ctx.input());
        Calibration calib = Calibration.open(ctx.calibration().resolve(Calibration.FILE));
        try (calib) {
            Rounding round = rounding;
            Quantizer.Clip clipping = clip;
            QuantPlanner.Result planned = null;
            try (Checkpoint cp = Checkpoint.open(ctx.input(), null)) {
                String identity = ModelIdentity.of(cp);
                calib.check(identity, defaults.scheduler(), defaults.steps());
                if (targetBits != null || targetMb != null) {
                    Sensitivity.Table table = Sensitivity.Table.read(ctx.calibration().resolve(Sensitivity.FILE));
                    if (round == null) round = Rounding.parse(table.header().getOrDefault("rounding", "nearest"));
                    if (clipping == null) clipping = Quantizer.Clip.parse(table.header().getOrDefault("clip", "absmax"));
                    planned = QuantPlanner.plan(cp, table, new FormatPlan(target, rules, defaultKeep), targetBits, targetMb);
                    if (ctx.log() != null) planned.print(ctx.log());
                }
            }
            if (round == null) round = Rounding.NEAREST;
            if (clipping == null) clipping = Quantizer.Clip.ABSMAX;
            List<FormatPlan.Rule> all = new ArrayList<>(rules);
            if (planned != null) all.addAll(planned.rules());
            var methods = new QuantizePass.Methods(clipping, round, calib, lowRank, lowRankLayers, lowRankIterations);
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put("command", "edgediffuse compress (quantize stage)");
            settings.put("rounding", round.label());
            settings.put("clip", clipping.name().toLowerCase(java.util.Locale.ROOT));
            QuantPlanner.Result p = planned;
            new Converter(new FormatPlan(target, all, defaultKeep), methods, converted -> {
                Map<String, byte[]> files = new LinkedHashMap<>();
                if (p != null) files.put("quant_plan.json", p.plan().json(p.params(), settings).getBytes(StandardCharsets.UTF_8));
                files.put("unet/" + ActivationRanges.FILE, ActivationRanges.json(ActivationRanges.of(calib, converted.unet)));
                return files;
            }, ctx.log()).convert(ctx.input(), ctx.modelOut());
        }
    }
}
