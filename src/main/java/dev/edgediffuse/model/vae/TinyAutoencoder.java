package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * TAESD, the tiny distilled autoencoder (diffusers {@code AutoencoderTiny} names and config: encoder.layers.{k},
 * decoder.layers.{k}, k counting every module of the sequential stack including activations and upsamplers).
 *
 * <p>Same conventions as {@link AutoencoderKL}: latents are UNet-space (mapped by {@link LatentScaling}, which for
 * TAESD's config is the identity), images channels-last in [-1, 1], decoded images unclamped. The decoder
 * starts with the soft clamp tanh(z/3)·3. A decoder-only model (no {@code encoder.layers.0.weight}) can decode but
 * not encode. Original taesd files ({@code taesd_encoder/decoder.safetensors}) load through {@link #fromOriginal}.
 */
public final class TinyAutoencoder implements ImageAutoencoder {
    private final List<UnaryOperator<FeatureMap>> encoder, decoder;
    private final int inChannels, latentChannels, downscale;
    private final LatentScaling latentScaling;

    public TinyAutoencoder(Config config, Weights weights) {
        String act = config.getString("act_fn", "relu");
        if (!act.equals("relu")) throw new ModelFormatException(config.source() + ": unsupported act_fn \"" + act + "\"");
        String up = config.getString("upsample_fn", "nearest");
        int factor = config.getInt("upsampling_scaling_factor", 2);
        if (!up.equals("nearest") || factor != 2) {
            throw new ModelFormatException(config.source() + ": unsupported upsampling " + up + " x" + factor + " (only nearest x2)");
        }
        inChannels = config.getInt("in_channels", 3);
        int outChannels = config.getInt("out_channels", 3);
        latentChannels = config.getInt("latent_channels", 4);
        int[] encCh = ints(config, "encoder_block_out_channels", new int[]{64, 64, 64, 64});
        int[] decCh = ints(config, "decoder_block_out_channels", new int[]{64, 64, 64, 64});
        int[] encBlocks = ints(config, "num_encoder_blocks", new int[]{1, 3, 3, 3});
        int[] decBlocks = ints(config, "num_decoder_blocks", new int[]{3, 3, 3, 1});
        if (encCh.length != encBlocks.length || decCh.length != decBlocks.length) {
            throw new ModelFormatException(config.source() + ": block_out_channels and num_*_blocks differ in length");
        }
        latentScaling = LatentScaling.of(config, latentChannels, 1.0);
        downscale = 1 << (decCh.length - 1);
        encoder = weights.has("encoder.layers.0.weight")
                ? buildEncoder(weights.scope("encoder.layers"), encCh, encBlocks) : null;
        decoder = buildDecoder(weights.scope("decoder.layers"), decCh, decBlocks, outChannels);
    }

    /** The diffusers AutoencoderTiny defaults (SD 1.x/2.x TAESD), for original taesd files shipped without a config. */
    public static Config defaultConfig() {
        return Config.parse("TAESD defaults", "{}");
    }

    private static int[] ints(Config c, String key, int[] fallback) {
        return c.has(key) ? c.getInts(key) : fallback;
    }

    private List<UnaryOperator<FeatureMap>> buildEncoder(Weights w, int[] ch, int[] blocks) {
        List<UnaryOperator<FeatureMap>> layers = new ArrayList<>();
        int prev = inChannels;
        for (int i = 0; i < ch.length; i++) {
            String name = String.valueOf(layers.size());
            Conv conv = i == 0 ? Conv.of(w, name, prev, ch[i], 3, 1, 1) : Conv.withoutBias(w, name, prev, ch[i], 3, 2, 1);
            layers.add(conv::forward);
            for (int b = 0; b < blocks[i]; b++) {
                TinyBlock block = new TinyBlock(w.scope(String.valueOf(layers.size())), ch[i], ch[i]);
                layers.add(block::forward);
            }
            prev = ch[i];
        }
        Conv out = Conv.of(w, String.valueOf(layers.size()), prev, latentChannels, 3, 1, 1);
        layers.add(out::forward);
        return layers;
    }

    private List<UnaryOperator<FeatureMap>> buildDecoder(Weights w, int[] ch, int[] blocks, int outChannels) {
        List<UnaryOperator<FeatureMap>> layers = new ArrayList<>();
        Conv in = Conv.of(w, "0", latentChannels, ch[0], 3, 1, 1);
        layers.add(in::forward);
        layers.add(TinyBlock::relu);
        int prev = ch[0];
        for (int i = 0; i < ch.length; i++) {
            boolean last = i == ch.length - 1;
            for (int b = 0; b < blocks[i]; b++) {
                TinyBlock block = new TinyBlock(w.scope(String.valueOf(layers.size())), b == 0 ? prev : ch[i], ch[i]);
                layers.add(block::forward);
            }
            if (!last) layers.add(Ops::upsample2x);
            String name = String.valueOf(layers.size());
            Conv conv = last ? Conv.of(w, name, ch[i], outChannels, 3, 1, 1) : Conv.withoutBias(w, name, ch[i], ch[i], 3, 1, 1);
            layers.add(conv::forward);
            prev = ch[i];
        }
        return layers;
    }

    public int latentChannels() {
        return latentChannels;
    }

    public int downscale() {
        return downscale;
    }

    public boolean canEncode() {
        return encoder != null;
    }

    /** UNet-space latents [B,h,w,latent] → image [B,h·downscale,w·downscale,out] in [-1, 1]. */
    public FeatureMap decode(FeatureMap latents) {
        if (latents.channels() != latentChannels) {
            throw new IllegalArgumentException("latents must have " + latentChannels + " channels, got " + latents.channels());
        }
        float[] z = latents.data().clone();
        latentScaling.fromUnet(z);
        for (int i = 0; i < z.length; i++) z[i] = (float) Math.tanh(z[i] / 3) * 3;
        FeatureMap x = latents.with(z);
        for (UnaryOperator<FeatureMap> layer : decoder) x = layer.apply(x);
        return x.with(Ops.scaleShift(x.data(), 2, -1));
    }

    /** Image [B,H,W,in] in [-1, 1] → UNet-space latents; TAESD's encoder is deterministic. */
    public FeatureMap encode(FeatureMap image) {
        if (encoder == null) throw new IllegalStateException("this TAESD has no encoder weights");
        if (image.channels() != inChannels) throw new IllegalArgumentException("image must have " + inChannels + " channels, got " + image.channels());
        if (image.height() % downscale != 0 || image.width() % downscale != 0) {
            throw new IllegalArgumentException("image " + image.height() + "x" + image.width() + " is not a multiple of " + downscale);
        }
        float[] x01 = new float[image.data().length];
        for (int i = 0; i < x01.length; i++) x01[i] = (image.data()[i] + 1) / 2;
        FeatureMap x = image.with(x01);
        for (UnaryOperator<FeatureMap> layer : encoder) x = layer.apply(x);
        latentScaling.toUnet(x.data());
        return x;
    }

    @Override
    public FeatureMap encode(FeatureMap image, java.util.Random unused) {
        return encode(image);
    }

    /** Same as {@link #encode}; TAESD has no posterior, so the "mean" is the encoding. */
    public FeatureMap encodeMean(FeatureMap image) {
        return encode(image);
    }

    /**
     * Renames original taesd tensors to diffusers names: taesd_encoder's {@code k.*} → {@code encoder.layers.k.*};
     * taesd_decoder's {@code k.*} → {@code decoder.layers.(k-1).*} (its index 0 is the parameter-free clamp).
     * Either map may be null (a decoder-only model has no encoder).
     */
    public static Map<String, Weight> fromOriginal(String source, Map<String, Weight> encoder, Map<String, Weight> decoder) {
        Map<String, Weight> out = new LinkedHashMap<>();
        if (encoder != null) encoder.forEach((name, w) -> out.put("encoder.layers." + name, w));
        if (decoder != null) {
            decoder.forEach((name, w) -> {
                int dot = name.indexOf('.');
                int k;
                try {
                    k = Integer.parseInt(name.substring(0, Math.max(dot, 0)));
                } catch (NumberFormatException e) {
                    k = -1;
                }
                if (k < 1) throw new ModelFormatException(source + ": tensor " + name + " is not a taesd decoder tensor");
                out.put("decoder.layers." + (k - 1) + name.substring(dot), w);
            });
        }
        return out;
    }
}
