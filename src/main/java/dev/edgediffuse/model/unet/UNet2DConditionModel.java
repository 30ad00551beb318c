package dev.edgediffuse.model.unet;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.ArrayList;
import java.util.List;

/**
 * The conditional denoising UNet of Stable Diffusion, built from a diffusers unet/config.json and weights under
 * diffusers names. One class covers SD1.x, SD2.x (per-block head counts, linear projections) and BK-SDM students
 * (fewer ResNets per stage, no mid block, fewer stages); {@code layers_per_block} may be one count or one per stage,
 * as diffusers allows. Activations stay channels-last throughout.
 *
 * <p>Like diffusers, {@code attention_head_dim} (or {@code num_attention_heads} when set) is the number of heads
 * per block; the head width is channels / heads (SD1: 8 heads everywhere; SD2: [5,10,20,20] heads of 64).
 */
public final class UNet2DConditionModel {
    private static final String CROSS_DOWN = "CrossAttnDownBlock2D", DOWN = "DownBlock2D";
    private static final String CROSS_UP = "CrossAttnUpBlock2D", UP = "UpBlock2D";
    private static final String MID = "UNetMidBlock2DCrossAttn";

    private final int inChannels, outChannels, crossAttentionDim, downFactor, skipConnections, timeCondDim;
    private final Conv convIn, convOut;
    private final TimestepEmbedding timeEmbedding;
    /** The pooled prompt added to the time embedding (addition_embed_type "text"), or null. */
    private final TextTimeEmbedding textTimeEmbedding;
    private final DownBlock[] downBlocks;
    private final MidBlock midBlock;
    private final UpBlock[] upBlocks;
    private final GroupNorm convNormOut;

    public UNet2DConditionModel(Config config, Weights weights) {
        String src = config.source();
        rejectUnsupported(config);
        boolean promptInTimeEmbedding = additionEmbedType(config) != null;
        int[] channels = config.getInts("block_out_channels");
        int n = channels.length;
        String[] downTypes = config.getStrings("down_block_types"), upTypes = config.getStrings("up_block_types");
        if (downTypes.length != n || upTypes.length != n) {
            throw new ModelFormatException(src + ": down_block_types and up_block_types need " + n
                    + " entries, one per block_out_channels");
        }
        boolean[] downAttention = new boolean[n], upAttention = new boolean[n];
        for (int i = 0; i < n; i++) {
            downAttention[i] = blockHasAttention(src, "down_block_types", downTypes[i], CROSS_DOWN, DOWN);
            upAttention[i] = blockHasAttention(src, "up_block_types", upTypes[i], CROSS_UP, UP);
        }
        String midType = midBlockType(config);
        if (midType != null && !midType.equals(MID)) {
            throw new ModelFormatException(src + ": mid_block_type \"" + midType + "\" is not supported (only " + MID + " or null)");
        }
        int[] layers = layersPerBlock(config, n);
        int[] heads = config.has("num_attention_heads") ? config.getInts("num_attention_heads", n)
                : config.getInts("attention_head_dim", n);
        int[] transformerLayers = config.has("transformer_layers_per_block")
                ? config.getInts("transformer_layers_per_block", n) : filled(n, 1);
        if (heads.length != n || transformerLayers.length != n) {
            throw new ModelFormatException(src + ": attention_head_dim and transformer_layers_per_block need " + n + " entries");
        }
        this.inChannels = config.getInt("in_channels");
        this.outChannels = config.getInt("out_channels");
        this.crossAttentionDim = config.getInt("cross_attention_dim");
        int groups = config.getInt("norm_num_groups", 32);
        double eps = config.getDouble("norm_eps", 1e-5);
        int timeDim = config.getInt("time_embedding_dim", 4 * channels[0]);
        validate(config, channels, heads, transformerLayers, groups, eps, timeDim);
        PrunedWidths widths = PrunedWidths.of(config);

        this.timeCondDim = config.getInt("time_cond_proj_dim", 0);
        this.convIn = Conv.of(weights, "conv_in", inChannels, channels[0], 3, 1, 1);
        this.timeEmbedding = new TimestepEmbedding(weights.scope("time_embedding"), channels[0], timeDim,
                config.getBool("flip_sin_to_cos", true), config.getDouble("freq_shift", 0), timeCondDim);

        this.downBlocks = new DownBlock[n];
        int padding = config.getInt("downsample_padding", 1);
        int factor = 1;
        for (int i = 0; i < n; i++) {
            BlockShape shape = new BlockShape(downAttention[i] ? heads[i] : 0, transformerLayers[i], timeDim,
                    crossAttentionDim, groups, eps, widths);
            boolean last = i == n - 1;
            downBlocks[i] = new DownBlock(weights.scope("down_blocks." + i), i == 0 ? channels[0] : channels[i - 1],
                    channels[i], layers[i], shape, !last, padding);
            if (!last) factor *= 2;
        }
        this.downFactor = factor;
        int skips = 1;
        for (DownBlock b : downBlocks) skips += b.skipConnections();
        this.skipConnections = skips;

        this.midBlock = midType == null ? null : new MidBlock(weights.scope("mid_block"), channels[n - 1],
                new BlockShape(heads[n - 1], transformerLayers[n - 1], timeDim, crossAttentionDim, groups, eps, widths));

        this.upBlocks = new UpBlock[n];
        int previous = channels[n - 1];
        for (int i = 0; i < n; i++) {
            int level = n - 1 - i;
            BlockShape shape = new BlockShape(upAttention[i] ? heads[level] : 0, transformerLayers[level], timeDim,
                    crossAttentionDim, groups, eps, widths);
            int skipIn = channels[Math.max(level - 1, 0)];
            upBlocks[i] = new UpBlock(weights.scope("up_blocks." + i), previous, skipIn, channels[level], layers[level] + 1,
                    shape, i < n - 1);
            previous = upBlocks[i].outgoing();
        }
        this.convNormOut = new GroupNorm(weights, "conv_norm_out", channels[0], groups, eps);
        this.convOut = Conv.of(weights, "conv_out", channels[0], outChannels, 3, 1, 1);
        // built last, so a config without it lists (and a trainer initializes) the other tensors in the same order
        this.textTimeEmbedding = !promptInTimeEmbedding ? null : new TextTimeEmbedding(weights.scope("add_embedding"),
                src, crossAttentionDim, timeDim, config.getInt("addition_embed_type_num_heads", 64));
        widths.checkAllUsed();
    }

    public int inChannels() {
        return inChannels;
    }

    public int crossAttentionDim() {
        return crossAttentionDim;
    }

    /** Latent height and width must be multiples of this. */
    public int sizeMultiple() {
        return downFactor;
    }

    /** The skip connections a full call keeps for the up path (conv_in's output, one per down layer and downsampler). */
    public int skipConnections() {
        return skipConnections;
    }

    /** The width of the extra timestep condition (time_cond_proj_dim, LCM's guidance embedding), 0 when none. */
    public int timeCondDim() {
        return timeCondDim;
    }

    /**
     * The noise (or v) prediction for a batch.
     *
     * @param latents       [batch][h][w][in_channels], channels-last
     * @param timesteps     one (possibly fractional) timestep per batch item
     * @param context       text encoder states, [batch][contextTokens][cross_attention_dim]
     * @param contextTokens tokens per batch item
     * @return [batch][h][w][out_channels], channels-last
     */
    public FeatureMap predict(FeatureMap latents, float[] timesteps, float[] context, int contextTokens) {
        return predict(latents, timesteps, context, contextTokens, UNetHooks.NONE);
    }

    /** As above, with this call's hooks: an extra timestep condition, feature taps, a feature cache, token merging. */
    public FeatureMap predict(FeatureMap latents, float[] timesteps, float[] context, int contextTokens, UNetHooks hooks) {
        checkInputs(latents, timesteps, context, contextTokens, hooks);
        float[] emb = timeEmbedding.forward(timesteps, hooks.timestepCond());
        if (textTimeEmbedding != null) emb = Ops.add(emb, textTimeEmbedding.forward(context, latents.batch(), contextTokens));
        float[] siluTemb = Ops.silu(emb);
        Conditioning cond = new Conditioning(siluTemb, context, contextTokens, hooks.tokenMerge(), latents.height());
        FeatureTaps taps = hooks.taps();
        boolean shallow = hooks.cache() != null && hooks.reuseCache();
        int maxSkips = shallow ? hooks.cache().shallowSkips() : Integer.MAX_VALUE;

        FeatureMap x = convIn.forward(latents);
        List<FeatureMap> skips = new ArrayList<>();
        skips.add(x);
        tap(taps, "conv_in", x);
        for (int i = 0; i < downBlocks.length && skips.size() < maxSkips; i++) {
            x = downBlocks[i].forward(x, cond, skips, maxSkips);
            if (skips.size() < maxSkips) {
                // the stage's layers' output, where a student that lost this downsampler ends the stage (BK-SDM-Tiny)
                if (downBlocks[i].downsamples()) tap(taps, "down_blocks." + i + ".before_downsampler", skips.get(skips.size() - 2));
                tap(taps, "down_blocks." + i, x);
            }
        }
        if (midBlock != null && !shallow) {
            x = midBlock.forward(x, cond);
            tap(taps, "mid_block", x);
        }
        UpPath path = new UpPath(skipConnections, hooks.cache(), shallow, latents.batch());
        for (int i = 0; i < upBlocks.length; i++) {
            String name = "up_blocks." + i;
            x = upBlocks[i].forward(x, cond, skips, path, before -> tap(taps, name + ".before_upsampler", before));
            if (!path.beforeCut()) tap(taps, "up_blocks." + i, x);
        }
        return x.consumedBy(convOut.forward(convNormOut, true, x));
    }

    private static void tap(FeatureTaps taps, String name, FeatureMap x) {
        if (taps != null) taps.offer(name, x);
    }

    private void checkInputs(FeatureMap latents, float[] timesteps, float[] context, int contextTokens, UNetHooks hooks) {
        int b = latents.batch();
        if (hooks.timestepCond() != null && (timeCondDim == 0 || hooks.timestepCond().length != (long) b * timeCondDim)) {
            throw new IllegalArgumentException(timeCondDim == 0 ? "this UNet takes no timestep condition (no time_cond_proj_dim)"
                    : "timestep condition has " + hooks.timestepCond().length + " values, expected " + b + "x" + timeCondDim);
        }
        if (hooks.cache() != null && hooks.cache().shallowSkips() > skipConnections) {
            throw new IllegalArgumentException("the feature cache cuts after " + hooks.cache().shallowSkips()
                    + " skip connections; this UNet has " + skipConnections);
        }
        if (latents.channels() != inChannels) {
            throw new IllegalArgumentException("UNet expects " + inChannels + " latent channels, got " + latents.channels());
        }
        if (latents.height() % downFactor != 0 || latents.width() % downFactor != 0) {
            throw new IllegalArgumentException("latent size " + latents.height() + "x" + latents.width()
                    + " must be a multiple of " + downFactor);
        }
        if (timesteps.length != b) {
            throw new IllegalArgumentException(timesteps.length + " timesteps for a batch of " + b);
        }
        if (contextTokens <= 0 || context.length != (long) b * contextTokens * crossAttentionDim) {
            throw new IllegalArgumentException("context has " + context.length + " values, expected " + b + "x"
                    + contextTokens + "x" + crossAttentionDim);
        }
    }

    /** ResNets per down stage (its up stage has one more): one count for all, or one per stage as diffusers allows. */
    static int[] layersPerBlock(Config config, int stages) {
        int[] layers = config.has("layers_per_block") ? config.getInts("layers_per_block", stages) : filled(stages, 2);
        if (layers.length != stages) {
            throw new ModelFormatException(config.source() + ": layers_per_block needs " + stages + " entries, one per block_out_channels");
        }
        for (int l : layers) {
            if (l < 1) throw new ModelFormatException(config.source() + ": layers_per_block entries must be at least 1, got " + l);
        }
        return layers;
    }

    /**
     * Values that read but cannot build a working model (zero heads or groups, groups or heads that do not divide the
     * channels, empty dimensions): one line naming the key here, instead of a division by zero at the first step.
     */
    private static void validate(Config config, int[] channels, int[] heads, int[] transformerLayers, int groups, double eps,
                                 int timeDim) {
        if (channels.length == 0 || channels.length > 16) throw config.invalid("block_out_channels", "needs 1 to 16 entries");
        for (int c : channels) if (c < 1) throw config.invalid("block_out_channels", "entries must be at least 1");
        if (groups < 1) throw config.invalid("norm_num_groups", "must be at least 1");
        for (int c : channels) {
            if (c % groups != 0) throw config.invalid("norm_num_groups", "must divide every block_out_channels entry (" + c + " does not split)");
        }
        String headsKey = config.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
        for (int i = 0; i < channels.length; i++) {
            if (heads[i] < 1) throw config.invalid(headsKey, "entries must be at least 1");
            if (channels[i] % heads[i] != 0) {
                throw config.invalid(headsKey, "must divide block_out_channels (" + channels[i] + " into " + heads[i] + " heads)");
            }
            if (transformerLayers[i] < 1) throw config.invalid("transformer_layers_per_block", "entries must be at least 1");
        }
        for (String key : new String[]{"in_channels", "out_channels", "cross_attention_dim"}) {
            if (config.getInt(key) < 1) throw config.invalid(key, "must be at least 1");
        }
        if (timeDim < 1) throw config.invalid("time_embedding_dim", "must be at least 1");
        if (config.getInt("time_cond_proj_dim", 0) < 0) throw config.invalid("time_cond_proj_dim", "must be 0 (none) or more");
        if (config.getInt("downsample_padding", 1) < 0) throw config.invalid("downsample_padding", "must be 0 or more");
        if (config.getInt("sample_size", 64) < 1) throw config.invalid("sample_size", "must be at least 1");
        if (!(eps > 0) || Double.isInfinite(eps)) throw config.invalid("norm_eps", "must be a positive number");
    }

    /** "text" (diffusers' TextTimeEmbedding) or null; other addition embeddings need inputs this runtime has no way to pass. */
    private static String additionEmbedType(Config config) {
        String type = config.getString("addition_embed_type", null);
        if (type != null && !type.equals("text")) {
            throw new ModelFormatException(config.source() + ": addition_embed_type \"" + type + "\" is not supported (only \"text\" or null)");
        }
        return type;
    }

    /** The mid block's type: UNetMidBlock2DCrossAttn when the key is absent (diffusers' default), null when set to null. */
    private static String midBlockType(Config config) {
        if (!config.values().containsKey("mid_block_type")) return MID;
        return config.getString("mid_block_type", null);
    }

    private static boolean blockHasAttention(String src, String key, String type, String withAttention, String plain) {
        if (type.equals(withAttention)) return true;
        if (type.equals(plain)) return false;
        throw new ModelFormatException(src + ": " + key + " entry \"" + type + "\" is not supported (" + withAttention
                + " or " + plain + ")");
    }

    private static void rejectUnsupported(Config config) {
        String src = config.source();
        if (!config.getString("act_fn", "silu").equals("silu")) throw new ModelFormatException(src + ": act_fn must be silu");
        if (config.getBool("only_cross_attention", false)) {
            throw new ModelFormatException(src + ": only_cross_attention=true is not supported");
        }
        if (!config.getString("resnet_time_scale_shift", "default").equals("default")) {
            throw new ModelFormatException(src + ": resnet_time_scale_shift must be \"default\"");
        }
        for (String key : new String[]{"class_embed_type", "num_class_embeds", "encoder_hid_dim"}) {
            if (config.has(key)) throw new ModelFormatException(src + ": " + key + " is not supported");
        }
        if (config.getInt("conv_in_kernel", 3) != 3 || config.getInt("conv_out_kernel", 3) != 3) {
            throw new ModelFormatException(src + ": conv_in_kernel and conv_out_kernel must be 3");
        }
    }

    private static int[] filled(int n, int value) {
        int[] out = new int[n];
        java.util.Arrays.fill(out, value);
        return out;
    }
}
