package dev.edgediffuse.model.unet;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.Weight;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Maps the original LDM single-file UNet layout ({@code model.diffusion_model.input_blocks.N.M…},
 * {@code middle_block}, {@code output_blocks}) onto diffusers names. The original numbers its modules in one flat
 * sequence: input block 0 is conv_in, then each stage contributes layers_per_block (ResNet, transformer) entries
 * plus one for its downsampler; each output block holds a ResNet, its transformer and, closing a stage, the upsampler.
 * Transformers keep their inner names; ResNet parts are renamed (in_layers.0 → norm1 and so on).
 */
public final class UNetOriginalNames {
    public static final String PREFIX = "model.diffusion_model.";
    private static final String[][] RESNET_PARTS = {
            {"in_layers.0", "norm1"}, {"in_layers.2", "conv1"}, {"emb_layers.1", "time_emb_proj"},
            {"out_layers.0", "norm2"}, {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"}};

    private UNetOriginalNames() {}

    /**
     * Module prefixes, original → diffusers, without {@link #PREFIX}; a tensor is renamed by its longest matching
     * prefix (e.g. input_blocks.1.0.in_layers.0 → down_blocks.0.resnets.0.norm1).
     */
    public static Map<String, String> originalToDiffusers(Config unetConfig) {
        int stages = unetConfig.getInts("block_out_channels").length;
        int[] layers = UNet2DConditionModel.layersPerBlock(unetConfig, stages);
        String[] downTypes = unetConfig.getStrings("down_block_types"), upTypes = unetConfig.getStrings("up_block_types");
        Map<String, String> map = new LinkedHashMap<>();
        map.put("time_embed.0", "time_embedding.linear_1");
        map.put("time_embed.2", "time_embedding.linear_2");
        map.put("input_blocks.0.0", "conv_in");
        map.put("out.0", "conv_norm_out");
        map.put("out.2", "conv_out");

        int block = 1;
        for (int i = 0; i < stages; i++) {
            boolean attention = downTypes[i].startsWith("CrossAttn");
            for (int j = 0; j < layers[i]; j++, block++) {
                putResnet(map, "input_blocks." + block + ".0", "down_blocks." + i + ".resnets." + j);
                if (attention) map.put("input_blocks." + block + ".1", "down_blocks." + i + ".attentions." + j);
            }
            if (i < stages - 1) map.put("input_blocks." + block++ + ".0.op", "down_blocks." + i + ".downsamplers.0.conv");
        }
        putResnet(map, "middle_block.0", "mid_block.resnets.0");
        map.put("middle_block.1", "mid_block.attentions.0");
        putResnet(map, "middle_block.2", "mid_block.resnets.1");

        block = 0;
        for (int i = 0; i < stages; i++) {
            boolean attention = upTypes[i].startsWith("CrossAttn");
            int resnets = layers[stages - 1 - i] + 1;
            for (int j = 0; j < resnets; j++, block++) {
                putResnet(map, "output_blocks." + block + ".0", "up_blocks." + i + ".resnets." + j);
                if (attention) map.put("output_blocks." + block + ".1", "up_blocks." + i + ".attentions." + j);
                if (j == resnets - 1 && i < stages - 1) {
                    map.put("output_blocks." + block + "." + (attention ? 2 : 1) + ".conv",
                            "up_blocks." + i + ".upsamplers.0.conv");
                }
            }
        }
        return map;
    }

    /**
     * The UNet tensors of a single-file checkpoint (those under {@link #PREFIX}; the VAE and text encoder are left
     * out) under diffusers names, still backed by the file's storage.
     */
    public static Map<String, Weight> rename(Map<String, Weight> checkpoint, Config unetConfig, String source) {
        Map<String, String> modules = originalToDiffusers(unetConfig);
        Map<String, Weight> out = new LinkedHashMap<>();
        for (Map.Entry<String, Weight> e : checkpoint.entrySet()) {
            if (!e.getKey().startsWith(PREFIX)) continue;
            String original = e.getKey().substring(PREFIX.length());
            String name = diffusersName(modules, original);
            if (name == null) {
                throw new ModelFormatException(source + ": tensor " + e.getKey() + " does not belong to a UNet with this config");
            }
            Weight w = e.getValue();
            out.put(name, new Weight(name, w.dtype(), w.shape(), w.data()));
        }
        if (out.isEmpty()) throw new ModelFormatException(source + ": no tensors under " + PREFIX + " (not a single-file SD checkpoint)");
        return out;
    }

    /** The diffusers name of one original tensor name (without {@link #PREFIX}), or null when no module matches. */
    static String diffusersName(Map<String, String> modules, String original) {
        for (int dot = original.lastIndexOf('.'); dot > 0; dot = original.lastIndexOf('.', dot - 1)) {
            String target = modules.get(original.substring(0, dot));
            if (target != null) return target + original.substring(dot);
        }
        return null;
    }

    private static void putResnet(Map<String, String> map, String original, String diffusers) {
        for (String[] part : RESNET_PARTS) map.put(original + "." + part[0], diffusers + "." + part[1]);
    }
}
