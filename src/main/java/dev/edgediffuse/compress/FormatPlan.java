package dev.edgediffuse.compress;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which format each tensor of a model is written in: mixed precision per layer. Rules (glob → format, first match
 * wins) come first; then, for a quantized target, the default keep list; everything else gets the target format.
 * Only matrix weights the GEMM/conv kernels pack (2-D linear, 4-D conv, named *weight) whose K fits the group are
 * quantized; anything else a rule or the target asks to quantize is kept instead. "Kept" tensors are not quantized:
 * they get the target type when that is a float type, else stay 16-bit (F16/BF16 as stored, F32 → F16). A tensor
 * with values beyond the F16 range that would become F16 stays F32.
 */
public final class FormatPlan {
    /** A glob over tensor names ({@code *} any run of characters, {@code ?} one) and a format name or "keep". */
    public record Rule(String glob, DType format) {
        public boolean keep() {
            return format == null;
        }

        boolean matches(String name) {
            if (glob.indexOf('*') < 0 && glob.indexOf('?') < 0) return glob.equals(name);
            return regex(glob).matcher(name).matches();
        }

        /** As the command line spells it: GLOB=FORMAT. */
        public String spec() {
            return glob + "=" + (format == null ? "keep" : format.formatName());
        }
    }

    /**
     * Kept in 16 bits when quantizing, in diffusers and original names: embeddings (token, position, time), the
     * first and last convolutions of UNet and VAE and the VAE's latent projections — small layers whose errors reach
     * every pixel, or lookup tables no GEMM packs.
     */
    public static final List<String> DEFAULT_KEEP = List.of("*embed*", "*conv_in.*", "*conv_out.*", "*quant_conv.*",
            "*diffusion_model.input_blocks.0.0.*", "*diffusion_model.out.2.*", "*.lowrank_down.weight", "*.lowrank_up.weight");

    /** What happened to one tensor, and why. */
    public record Decision(DType format, String reason) {}

    private final DType target;
    private final List<Rule> rules;
    private final List<Rule> defaults = new ArrayList<>();
    /** Rules that matched a tensor so far (a rule that names nothing is a mistake the caller reports). */
    private final java.util.Set<Rule> matched = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** {@code defaultKeep}: whether {@link #DEFAULT_KEEP} applies (after the rules) when the target is quantized. */
    public FormatPlan(DType target, List<Rule> rules, boolean defaultKeep) {
        this.target = target;
        this.rules = List.copyOf(rules);
        if (defaultKeep) for (String g : DEFAULT_KEEP) defaults.add(new Rule(g, null));
    }

    public DType target() {
        return target;
    }

    /** The first rule matching {@code name} (as rules see it), or null. */
    public Rule ruleFor(String name) {
        return first(rules, name);
    }

    /** The rules whose glob matched no tensor decided so far (shadowed rules count as matching), in order. */
    public List<Rule> unmatchedRules() {
        List<Rule> out = new ArrayList<>();
        for (Rule r : rules) if (!matched.contains(r)) out.add(r);
        return out;
    }

    /** Parses "GLOB=FORMAT" (FORMAT a format name or keep). */
    public static Rule parseRule(String spec) {
        int eq = spec.lastIndexOf('=');
        if (eq <= 0) throw new IllegalArgumentException("layer rule '" + spec + "' must be GLOB=FORMAT");
        return rule(spec.substring(0, eq), spec.substring(eq + 1));
    }

    public static Rule rule(String glob, String format) {
        if (format.equals("keep")) return new Rule(glob, null);
        DType t = parseFormat(format);
        if (t == null) throw new IllegalArgumentException("unknown weight format '" + format + "' in rule for " + glob + " (" + formatNames() + " or keep)");
        return new Rule(glob, t);
    }

    /** A format name as the CLI takes it: any {@link DType#formatName()}, plus q4 for q4_32; null if unknown. */
    public static DType parseFormat(String name) {
        return name.equals("q4") ? DType.Q4_32 : DType.fromFormatName(name);
    }

    public static String formatNames() {
        StringBuilder b = new StringBuilder();
        for (DType d : DType.values()) b.append(b.isEmpty() ? "" : ", ").append(d.formatName());
        return b + " (q4 = q4_32)";
    }

    /** The format of tensor {@code name} (as rules see it, e.g. "unet/conv_in.weight"). */
    public Decision decide(String name, Weight w) {
        Rule rule = first(rules, name);
        for (Rule r : rules) if (!matched.contains(r) && r.matches(name)) matched.add(r);
        DType wanted;
        String why;
        if (rule != null) {
            wanted = rule.format;
            why = rule.glob.indexOf('*') < 0 && rule.glob.indexOf('?') < 0 ? "named one by one (the plan, or rules naming a tensor)" : "rule " + rule.glob;
        } else if (target.quantized() && first(defaults, name) instanceof Rule keep) {
            wanted = null;
            why = "kept by default (" + keep.glob + ")";
        } else {
            wanted = target;
            why = "target";
        }
        if (wanted != null && wanted.quantized() && !quantizable(name, w.shape(), wanted)) {
            wanted = null;
            why = w.shape().length == 2 || w.shape().length == 4 ? "K not a multiple of " + wantedGroup(rule) : "not a matrix weight (biases, norms)";
        }
        DType format = wanted != null ? wanted : kept(w);
        if (format == DType.F16 && (w.dtype() == DType.F32 || w.dtype() == DType.BF16) && !fitsF16(w)) {
            return new Decision(DType.F32, "values beyond the f16 range");
        }
        return new Decision(format, why);
    }

    private int wantedGroup(Rule rule) {
        return (rule != null && rule.format != null ? rule.format : target).group;
    }

    /** Matrix weights the kernels pack: [N][K] or [N][C][kh][kw], named *weight, K a multiple of the group. */
    public static boolean quantizable(String name, int[] shape, DType type) {
        if (!name.endsWith("weight") || (shape.length != 2 && shape.length != 4)) return false;
        long k = 1;
        for (int d = 1; d < shape.length; d++) k *= shape[d];
        return k > 0 && shape[0] > 0 && (type.group == 0 || k % type.group == 0);
    }

    private DType kept(Weight w) {
        if (!target.quantized()) return target;
        return switch (w.dtype()) {
            case F16, BF16 -> w.dtype();
            case F32 -> DType.F16;
            default -> DType.F16; // re-converting a quantized weight: its decoded values are small
        };
    }

    private static boolean fitsF16(Weight w) {
        float[] v = new float[1 << 14];
        for (long off = 0; off < w.size(); off += v.length) {
            int n = (int) Math.min(v.length, w.size() - off);
            w.copyTo(off, v, 0, n);
            for (int k = 0; k < n; k++) if (Math.abs(v[k]) > 65504f) return false;
        }
        return true;
    }

    private static Rule first(List<Rule> rules, String name) {
        for (Rule r : rules) if (r.matches(name)) return r;
        return null;
    }

    static Pattern regex(String glob) {
        StringBuilder b = new StringBuilder();
        for (char c : glob.toCharArray()) {
            if (c == '*') b.append(".*");
            else if (c == '?') b.append('.');
            else b.append(Pattern.quote(String.valueOf(c)));
        }
        return Pattern.compile(b.toString());
    }
}
