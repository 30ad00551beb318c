package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Structured pruning of a UNet's inner widths, as Hybrid SD prunes its student: a ResNet keeps the conv1 filters of
 * largest L2 norm (and the matching time_emb_proj rows, norm2 channels and conv2 inputs), a count the norm's groups
 * divide; an attention keeps its first heads (q/k/v rows, to_out columns). Two kinds are ours, for a UNet as small as
 * EdgeDiffuse-Mini, where what Hybrid SD prunes is under half the work: a feed-forward keeps the GEGLU units of
 * largest ‖value row‖·‖output column‖ (Hybrid SD's code has an MLP pruning too, unused in its recipes), and an
 * up stage's upsampler keeps the output filters of largest L2 norm, which the next stage's first ResNet reads as the
 * stream part of its input (its norm1 channels, conv1 and conv_shortcut columns follow). Block outputs and skip
 * connections keep their channels. The new widths go into the config's {@code pruned_widths}.
 */
public final class WidthPruning {
    public enum Kind { RESNET, ATTENTION, FEED_FORWARD, UPSAMPLER }

    /** A prunable unit group: a module path, its kind, and its full width (inner channels, heads, or GEGLU units). */
    public record Candidate(String module, Kind kind, int full) {}

    private WidthPruning() {}

    /** Every ResNet and attention of the UNet (and every feed-forward and upsampler, when asked), in tensor order. */
    public static List<Candidate> candidates(Component unet, boolean extended) {
        Config c = unet.config();
        if (c.has("pruned_widths")) throw new ModelFormatException(c.source() + ": this UNet is width-pruned already (pruned_widths)");
        int[] heads = c.has("num_attention_heads") ? c.getInts("num_attention_heads", stages(c)) : c.getInts("attention_head_dim", stages(c));
        List<Candidate> out = new ArrayList<>();
        for (Map.Entry<String, ModelTensor> e : unet.tensors().entrySet()) {
            String n = e.getKey();
            if (n.endsWith(".conv1.weight")) out.add(new Candidate(strip(n, ".conv1.weight"), Kind.RESNET, e.getValue().shape()[0]));
            else if (n.endsWith(".to_q.weight")) out.add(new Candidate(strip(n, ".to_q.weight"), Kind.ATTENTION, heads[stage(n, heads.length)]));
            else if (extended && n.endsWith(".ff.net.2.weight")) {
                out.add(new Candidate(strip(n, ".net.2.weight"), Kind.FEED_FORWARD, e.getValue().shape()[1]));
            } else if (extended && n.endsWith(".upsamplers.0.conv.weight") && unet.tensors().containsKey(nextShortcut(n))) {
                out.add(new Candidate(strip(n, ".conv.weight"), Kind.UPSAMPLER, e.getValue().shape()[0]));
            }
        }
        return out;
    }

    /**
     * The width a candidate keeps at ratio {@code keep}: Hybrid SD's rounding (a ResNet's int(C·keep) up to a multiple of
     * the norm's groups, int(heads·keep) heads, a feed-forward's units up to a multiple of 16). Hybrid SD leaves a
     * ResNet of 64 or fewer and an attention of 2 or fewer heads alone, a floor meant for SD's widths; here a ResNet
     * keeps at least one channel per group and an attention at least one head (cross-attention is the prompt's only way in).
     */
    public static int width(Candidate c, double keep, int groups) {
        return switch (c.kind()) {
            case RESNET, UPSAMPLER -> Math.min(c.full(), Math.max(groups, ceilTo((int) (c.full() * keep), groups)));
            case ATTENTION -> Math.min(c.full(), Math.max(1, (int) (c.full() * keep)));
            case FEED_FORWARD -> Math.min(c.full(), Math.max(16, ceilTo((int) (c.full() * keep), 16)));
        };
    }

    private static int ceilTo(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    /** The model with these candidates cut to these widths (the rest unchanged); tensors are sliced when read. */
    public static Checkpoint apply(Checkpoint model, Map<Candidate, Integer> widths) {
        Component unet = model.unet;
        Map<String, ModelTensor> t = new LinkedHashMap<>(unet.tensors());
        Map<String, Object> recorded = new LinkedHashMap<>();
        for (Map.Entry<Candidate, Integer> e : widths.entrySet()) {
            Candidate c = e.getKey();
            int w = e.getValue();
            if (w < 1 || w > c.full()) throw new IllegalArgumentException(c.module() + ": width " + w + " outside 1.." + c.full());
            String m = c.module();
            switch (c.kind()) {
                case RESNET -> {
                    int[] keep = largest(rowNorms(t.get(m + ".conv1.weight")), w);
                    for (String r : new String[]{".conv1.weight", ".conv1.bias", ".time_emb_proj.weight", ".time_emb_proj.bias", ".norm2.weight", ".norm2.bias"}) {
                        t.put(m + r, Slices.rows(t.get(m + r), keep));
                    }
                    t.put(m + ".conv2.weight", Slices.cols(t.get(m + ".conv2.weight"), keep));
                }
                case ATTENTION -> {
                    int headDim = t.get(m + ".to_q.weight").shape()[0] / c.full();
                    int[] keep = IntStream.range(0, w * headDim).toArray(); // the first heads, as Hybrid SD
                    for (String r : new String[]{".to_q.weight", ".to_k.weight", ".to_v.weight"}) t.put(m + r, Slices.rows(t.get(m + r), keep));
                    t.put(m + ".to_out.0.weight", Slices.cols(t.get(m + ".to_out.0.weight"), keep));
                }
                case FEED_FORWARD -> {
                    int inner = c.full();
                    float[] value = rowNorms(t.get(m + ".net.0.proj.weight")), out = colNorms(t.get(m + ".net.2.weight"));
                    double[] score = new double[inner];
                    for (int u = 0; u < inner; u++) score[u] = value[u] * out[u];
                    int[] units = largest(score, w), rows = new int[2 * w];
                    for (int k = 0; k < w; k++) {
                        rows[k] = units[k];
                        rows[w + k] = inner + units[k]; // the unit's gate, in the second half of the projection
                    }
                    t.put(m + ".net.0.proj.weight", Slices.rows(t.get(m + ".net.0.proj.weight"), rows));
                    t.put(m + ".net.0.proj.bias", Slices.rows(t.get(m + ".net.0.proj.bias"), rows));
                    t.put(m + ".net.2.weight", Slices.cols(t.get(m + ".net.2.weight"), units));
                }
                case UPSAMPLER -> {
                    int[] keep = largest(rowNorms(t.get(m + ".conv.weight")), w);
                    t.put(m + ".conv.weight", Slices.rows(t.get(m + ".conv.weight"), keep));
                    t.put(m + ".conv.bias", Slices.rows(t.get(m + ".conv.bias"), keep));
                    // the next stage's first ResNet reads [stream ‖ skip]: keep these stream channels and every skip channel
                    String next = nextShortcut(m + ".conv.weight").replace(".conv_shortcut.weight", "");
                    int in = t.get(next + ".conv1.weight").shape()[1];
                    int[] cols = new int[w + in - c.full()];
                    System.arraycopy(keep, 0, cols, 0, w);
                    for (int k = w; k < cols.length; k++) cols[k] = c.full() + k - w;
                    for (String r : new String[]{".norm1.weight", ".norm1.bias"}) t.put(next + r, Slices.rows(t.get(next + r), cols));
                    for (String r : new String[]{".conv1.weight", ".conv_shortcut.weight"}) t.put(next + r, Slices.cols(t.get(next + r), cols));
                }
            }
            recorded.put(m, w);
        }
        Map<String, Object> v = new LinkedHashMap<>(unet.config().values());
        v.put("pruned_widths", recorded);
        Component c = unet.withConfig(new Config(unet.config().source() + " (width-pruned)", v))
                .withTensors(t, "width pruning of " + unet.source());
        return model.withUnet(c);
    }

    /** The indices of the {@code k} largest scores, ascending (ties: the lower index). */
    static int[] largest(double[] score, int k) {
        Integer[] order = new Integer[score.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -score[i]).thenComparingInt(i -> i));
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = order[i];
        Arrays.sort(out);
        return out;
    }

    private static int[] largest(float[] score, int k) {
        double[] d = new double[score.length];
        for (int i = 0; i < d.length; i++) d[i] = score[i];
        return largest(d, k);
    }

    /** L2 norm of each row (output unit) of a weight. */
    static float[] rowNorms(ModelTensor t) {
        float[] v = Slices.floats(t);
        int rows = t.shape()[0], per = v.length / rows;
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int i = 0; i < per; i++) s += (double) v[r * per + i] * v[r * per + i];
            out[r] = (float) Math.sqrt(s);
        }
        return out;
    }

    /** L2 norm of each column (input unit) of a [out][in] weight. */
    private static float[] colNorms(ModelTensor t) {
        float[] v = Slices.floats(t);
        int rows = t.shape()[0], cols = t.shape()[1];
        double[] s = new double[cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) s[c] += (double) v[r * cols + c] * v[r * cols + c];
        float[] out = new float[cols];
        for (int c = 0; c < cols; c++) out[c] = (float) Math.sqrt(s[c]);
        return out;
    }

    /** The conv_shortcut of the first ResNet of the up stage after an upsampler's (it must exist to take a narrower input). */
    private static String nextShortcut(String upsamplerWeight) {
        String[] p = upsamplerWeight.split("\\.");
        return "up_blocks." + (Integer.parseInt(p[1]) + 1) + ".resnets.0.conv_shortcut.weight";
    }

    private static String strip(String name, String suffix) {
        return name.substring(0, name.length() - suffix.length());
    }

    private static int stages(Config c) {
        return c.getInts("block_out_channels").length;
    }

    /** The stage whose head count an attention uses: down_blocks.i → i, up_blocks.i → n-1-i, mid → the last. */
    private static int stage(String name, int n) {
        String[] p = name.split("\\.");
        return switch (p[0]) {
            case "down_blocks" -> Integer.parseInt(p[1]);
            case "up_blocks" -> n - 1 - Integer.parseInt(p[1]);
            default -> n - 1;
        };
    }
}
