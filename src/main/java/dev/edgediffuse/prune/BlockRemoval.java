package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * BK-SDM's block removal (Kim et al. 2023), derived from any teacher's UNet config and initialized from its weights:
 * <ul>
 * <li>{@code base}: every down stage keeps its first (ResNet, attention) pair ({@code layers_per_block} 1) and every
 * up stage its first and last (2 of SD's 3);</li>
 * <li>{@code small}: base without the mid block;</li>
 * <li>{@code tiny}: small without the innermost stage (its down stage, and the up stage that mirrors it); the stage
 * above it loses its downsampler, and student up stage k starts from the teacher's k + 1.</li>
 * </ul>
 * Every other tensor is copied under its own name. A preset that removes nothing from this teacher, or a tiny of a
 * UNet of fewer than three stages, is a one-line error. EdgeDiffuse-Mini already has one layer per down stage and two
 * per up stage, so for it base removes nothing, small removes the mid block and tiny also its innermost stage.
 */
public final class BlockRemoval {
    public enum Preset {
        BASE, SMALL, TINY;

        public static Preset parse(String s) {
            for (Preset p : values()) if (p.name().toLowerCase(Locale.ROOT).equals(s)) return p;
            throw new IllegalArgumentException("preset must be base, small or tiny, got '" + s + "'");
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private BlockRemoval() {}

    /** The teacher with its UNet replaced by the preset's student (configs and tensors; text encoder and VAE shared). */
    public static Checkpoint apply(Checkpoint teacher, Preset preset) {
        Component unet = teacher.unet;
        Config t = unet.config();
        String src = t.source();
        if (t.has("pruned_widths")) throw new ModelFormatException(src + ": remove blocks before pruning widths (this UNet has pruned_widths)");
        int n = t.getInts("block_out_channels").length;
        int[] layers = t.has("layers_per_block") ? t.getInts("layers_per_block", n) : filled(n, 2);
        boolean mid = hasMid(t);
        boolean removesLayers = Arrays.stream(layers).anyMatch(l -> l > 1);
        String what = "preset " + preset.label() + " of " + unet.source();
        switch (preset) {
            case BASE -> {
                if (!removesLayers) throw new IllegalArgumentException(what + " removes nothing: every stage already has one "
                        + "layer (use small or tiny)");
            }
            case SMALL -> {
                if (!removesLayers && !mid) throw new IllegalArgumentException(what + " removes nothing: one layer per stage and no mid block");
            }
            case TINY -> {
                if (n < 3) throw new IllegalArgumentException(what + ": tiny removes the innermost stage, which needs at least 3 stages, "
                        + "this UNet has " + n);
                int[] ch = t.getInts("block_out_channels");
                if (ch[n - 1] != ch[n - 2]) {
                    throw new IllegalArgumentException(what + ": tiny needs the two innermost stages to have the same channels (the "
                            + "stage above takes the removed one's place), got " + ch[n - 2] + " and " + ch[n - 1]);
                }
            }
        }
        int stages = preset == Preset.TINY ? n - 1 : n;
        Config student = studentConfig(t, preset, stages);
        Map<String, ModelTensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : studentToTeacher(t, layers, preset, unet.tensors().keySet()).entrySet()) {
            tensors.put(e.getKey(), Slices.renamed(unet.tensors().get(e.getValue()), e.getKey()));
        }
        Component c = unet.withConfig(student).withTensors(tensors, "block removal (" + preset.label() + ") of " + unet.source());
        return teacher.withUnet(c);
    }

    /**
     * Which teacher tensor each student tensor starts from, in the teacher's order: same names, except up stages
     * (student resnets/attentions 1 ← the teacher's last layer, stage k ← k + 1 for tiny), and the removed parts left out.
     */
    static Map<String, String> studentToTeacher(Config t, int[] layers, Preset preset, Iterable<String> teacherNames) {
        int n = layers.length;
        int shift = preset == Preset.TINY ? 1 : 0;
        Map<String, String> map = new LinkedHashMap<>();
        for (String name : teacherNames) {
            String s = studentName(name, layers, n, shift, preset != Preset.BASE);
            if (s != null) map.put(s, name);
        }
        return map;
    }

    /** The student name of a teacher tensor, or null when the preset removes it. */
    private static String studentName(String name, int[] layers, int n, int shift, boolean noMid) {
        String[] p = name.split("\\.");
        switch (p[0]) {
            case "mid_block" -> {
                return noMid || shift > 0 ? null : name;
            }
            case "down_blocks" -> {
                int i = Integer.parseInt(p[1]);
                if (i >= n - shift) return null; // the removed innermost stage
                if (p[2].equals("downsamplers")) return i == n - shift - 1 ? null : name; // the new last stage has none
                return Integer.parseInt(p[3]) == 0 ? name : null; // resnets.0 / attentions.0 only
            }
            case "up_blocks" -> {
                int i = Integer.parseInt(p[1]);
                if (i < shift) return null;
                String stage = "up_blocks." + (i - shift) + ".";
                String rest = name.substring(("up_blocks." + i + ".").length());
                if (p[2].equals("upsamplers")) return stage + rest;
                int j = Integer.parseInt(p[3]), last = layers[n - 1 - i]; // up stage i has layers[level] + 1 layers
                String tail = rest.substring((p[2] + "." + p[3]).length());
                if (j == 0) return stage + p[2] + ".0" + tail;
                if (j == last) return stage + p[2] + ".1" + tail;
                return null;
            }
            default -> {
                return name;
            }
        }
    }

    private static Config studentConfig(Config t, Preset preset, int stages) {
        Map<String, Object> v = new LinkedHashMap<>(t.values());
        v.put("layers_per_block", 1);
        if (preset != Preset.BASE) v.put("mid_block_type", null);
        if (preset == Preset.TINY) {
            for (String key : new String[]{"block_out_channels", "down_block_types", "attention_head_dim", "num_attention_heads",
                    "transformer_layers_per_block"}) {
                if (v.get(key) instanceof List<?> l) v.put(key, new ArrayList<>(l.subList(0, stages)));
            }
            List<?> up = (List<?>) v.get("up_block_types");
            v.put("up_block_types", new ArrayList<>(up.subList(up.size() - stages, up.size())));
        }
        return new Config(t.source() + " (" + preset.label() + ")", v);
    }

    private static boolean hasMid(Config c) {
        return !c.values().containsKey("mid_block_type") || c.values().get("mid_block_type") != null;
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        Arrays.fill(a, v);
        return a;
    }
}
