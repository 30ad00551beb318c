package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.Weight;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Tensor names of the original LDM/CompVis VAE (as in single-file SD checkpoints under {@code first_stage_model.})
 * mapped onto the diffusers {@code AutoencoderKL} names {@link AutoencoderKL} reads.
 *
 * <p>Differences: {@code down.{i}.block.{j}} → {@code down_blocks.{i}.resnets.{j}}, {@code nin_shortcut} →
 * {@code conv_shortcut}, {@code downsample.conv} → {@code downsamplers.0.conv}, {@code mid.block_1/attn_1/block_2}
 * → {@code mid_block.resnets.0/attentions.0/resnets.1} with attention {@code norm,q,k,v,proj_out} →
 * {@code group_norm,to_q,to_k,to_v,to_out.0} (kept as 1×1 convs; the linear layers accept them), {@code norm_out}
 * → {@code conv_norm_out}, and the decoder's {@code up.{k}} list runs from the shallowest level, so
 * {@code decoder.up.{n-1-i}} is {@code decoder.up_blocks.{i}} ({@code upsample.conv} → {@code upsamplers.0.conv}).
 */
public final class VaeOriginalNames {
    private VaeOriginalNames() {}

    /** Original tensor name → diffusers tensor name, both without any checkpoint prefix such as first_stage_model. */
    public static Map<String, String> originalToDiffusers(Config vaeConfig) {
        int[] ch = vaeConfig.has("block_out_channels") ? vaeConfig.getInts("block_out_channels") : new int[]{64};
        int layers = vaeConfig.getInt("layers_per_block", 1), n = ch.length;
        Map<String, String> m = new LinkedHashMap<>();
        module(m, "encoder.conv_in", "encoder.conv_in");
        int prev = ch[0];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers; j++) {
                resnet(m, "encoder.down." + i + ".block." + j, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? prev : ch[i], ch[i]);
            }
            if (i < n - 1) module(m, "encoder.down." + i + ".downsample.conv", "encoder.down_blocks." + i + ".downsamplers.0.conv");
            prev = ch[i];
        }
        mid(m, "encoder", vaeConfig.getBool("mid_block_add_attention", true));
        module(m, "encoder.norm_out", "encoder.conv_norm_out");
        module(m, "encoder.conv_out", "encoder.conv_out");
        module(m, "quant_conv", "quant_conv");
        module(m, "post_quant_conv", "post_quant_conv");
        module(m, "decoder.conv_in", "decoder.conv_in");
        mid(m, "decoder", vaeConfig.getBool("mid_block_add_attention", true));
        prev = ch[n - 1];
        for (int i = 0; i < n; i++) {
            int level = n - 1 - i, out = ch[level];
            for (int j = 0; j <= layers; j++) {
                resnet(m, "decoder.up." + level + ".block." + j, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? prev : out, out);
            }
            if (i < n - 1) module(m, "decoder.up." + level + ".upsample.conv", "decoder.up_blocks." + i + ".upsamplers.0.conv");
            prev = out;
        }
        module(m, "decoder.norm_out", "decoder.conv_norm_out");
        module(m, "decoder.conv_out", "decoder.conv_out");
        return m;
    }

    /**
     * The tensors of an original-named VAE, renamed to diffusers names. {@code prefix} is prepended to every original
     * name (e.g. {@code "first_stage_model."} for a full SD checkpoint, {@code ""} for a standalone VAE file); tensors
     * outside the mapping are ignored; a mapped tensor that is absent fails, naming it.
     */
    public static Map<String, Weight> toDiffusers(String source, Map<String, Weight> tensors, Config vaeConfig, String prefix) {
        Map<String, Weight> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : originalToDiffusers(vaeConfig).entrySet()) {
            Weight w = tensors.get(prefix + e.getKey());
            if (w == null) throw new ModelFormatException(source + ": tensor " + prefix + e.getKey() + " is missing");
            out.put(e.getValue(), w);
        }
        return out;
    }

    private static void module(Map<String, String> m, String original, String diffusers) {
        m.put(original + ".weight", diffusers + ".weight");
        m.put(original + ".bias", diffusers + ".bias");
    }

    private static void resnet(Map<String, String> m, String original, String diffusers, int in, int out) {
        for (String part : new String[]{"norm1", "conv1", "norm2", "conv2"}) module(m, original + "." + part, diffusers + "." + part);
        if (in != out) module(m, original + ".nin_shortcut", diffusers + ".conv_shortcut");
    }

    private static void mid(Map<String, String> m, String side, boolean attention) {
        resnet(m, side + ".mid.block_1", side + ".mid_block.resnets.0", 0, 0);
        if (attention) {
            String a = side + ".mid.attn_1", d = side + ".mid_block.attentions.0";
            module(m, a + ".norm", d + ".group_norm");
            module(m, a + ".q", d + ".to_q");
            module(m, a + ".k", d + ".to_k");
            module(m, a + ".v", d + ".to_v");
            module(m, a + ".proj_out", d + ".to_out.0");
        }
        resnet(m, side + ".mid.block_2", side + ".mid_block.resnets.1", 0, 0);
    }
}
