package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.util.Random;

/**
 * The KL autoencoder of Stable Diffusion (diffusers {@code AutoencoderKL} names and config).
 *
 * <p>Latents on this API are in the UNet's space: {@code encode*} maps the encoder's z by {@link LatentScaling}
 * ((z − shift_factor)·scaling_factor, or per channel by latents_mean / latents_std) and {@code decode} undoes that
 * itself. Images are channels-last in [-1, 1]; decoded images are not clamped.
 * Weights are looked up relative to the component root (names such as {@code encoder.conv_in.weight}); for the
 * original LDM single-file names, see {@link VaeOriginalNames}.
 */
public final class AutoencoderKL implements ImageAutoencoder {
    /** Decode in tiles when the latent is larger than {@code maxUntiled} on either side. */
    public record Tiling(int maxUntiled, int tile, int overlap) {
        public Tiling {
            if (tile < 1 || overlap < 0 || overlap >= tile) {
                throw new IllegalArgumentException("tile " + tile + " with overlap " + overlap + ": need 0 <= overlap < tile");
            }
        }
    }

    /** 96 latents = 768 pixels decoded whole; larger latents go as 64-latent tiles overlapping by 16. */
    public static final Tiling DEFAULT_TILING = new Tiling(96, 64, 16);

    private final VaeEncoder encoder;
    private final VaeDecoder decoder;
    private final Conv quantConv, postQuantConv;
    private final int inChannels, latentChannels, downscale;
    private final LatentScaling latentScaling;
    private volatile Tiling tiling = DEFAULT_TILING;

    public AutoencoderKL(Config config, Weights weights) {
        String act = config.getString("act_fn", "silu");
        if (!act.equals("silu")) throw new ModelFormatException(config.source() + ": unsupported act_fn \"" + act + "\"");
        checkBlockTypes(config, "down_block_types", "DownEncoderBlock2D");
        checkBlockTypes(config, "up_block_types", "UpDecoderBlock2D");
        inChannels = config.getInt("in_channels");
        int outChannels = config.getInt("out_channels");
        latentChannels = config.getInt("latent_channels");
        int[] channels = config.has("block_out_channels") ? config.getInts("block_out_channels") : new int[]{64};
        int layers = config.getInt("layers_per_block", 1);
        int groups = config.getInt("norm_num_groups", 32);
        validate(config, channels, layers, groups);
        latentScaling = LatentScaling.of(config, latentChannels, 0.18215);
        boolean midAttention = config.getBool("mid_block_add_attention", true);
        downscale = 1 << (channels.length - 1);
        encoder = new VaeEncoder(weights.scope("encoder"), inChannels, channels, layers, groups, 2 * latentChannels, midAttention);
        decoder = new VaeDecoder(weights.scope("decoder"), latentChannels, channels, layers, groups, outChannels, midAttention);
        quantConv = config.getBool("use_quant_conv", true)
                ? Conv.of(weights, "quant_conv", 2 * latentChannels, 2 * latentChannels, 1, 1, 0) : null;
        postQuantConv = config.getBool("use_post_quant_conv", true)
                ? Conv.of(weights, "post_quant_conv", latentChannels, latentChannels, 1, 1, 0) : null;
    }

    /** Values that read but cannot build a working model: one line naming the key, not a division by zero later. */
    private static void validate(Config config, int[] channels, int layers, int groups) {
        for (String key : new String[]{"in_channels", "out_channels", "latent_channels"}) {
            if (config.getInt(key) < 1) throw config.invalid(key, "must be at least 1");
        }
        if (channels.length == 0 || channels.length > 16) throw config.invalid("block_out_channels", "needs 1 to 16 entries");
        if (layers < 1) throw config.invalid("layers_per_block", "must be at least 1");
        if (groups < 1) throw config.invalid("norm_num_groups", "must be at least 1");
        for (int c : channels) {
            if (c < 1 || c % groups != 0) {
                throw config.invalid("norm_num_groups", "must divide every block_out_channels entry (" + c + " does not split)");
            }
        }
    }

    private static void checkBlockTypes(Config config, String key, String expected) {
        if (!config.has(key)) return;
        for (String t : config.getStrings(key)) {
            if (!t.equals(expected)) throw new ModelFormatException(config.source() + ": unsupported " + key + " entry \"" + t + "\"");
        }
    }

    public int latentChannels() {
        return latentChannels;
    }

    /** Image pixels per latent pixel along each axis (8 for SD). */
    public int downscale() {
        return downscale;
    }

    public Tiling tiling() {
        return tiling;
    }

    /** Sets when and how {@link #decode} tiles; {@code null} never tiles. */
    public void setTiling(Tiling tiling) {
        this.tiling = tiling;
    }

    /** UNet-space latents [B,h,w,latent] → image [B,h·downscale,w·downscale,out] in [-1, 1]; tiles above the threshold. */
    public FeatureMap decode(FeatureMap latents) {
        Tiling t = tiling;
        if (t != null && Math.max(latents.height(), latents.width()) > t.maxUntiled()) {
            return decodeTiled(latents, t.tile(), t.overlap());
        }
        return decodeRaw(unscale(latents));
    }

    /**
     * Decodes overlapping {@code tile}×{@code tile} latent tiles (overlap in latent pixels) and blends them with
     * linear ramps. An approximation of {@link #decode}: group-norm statistics and mid-block attention see one tile.
     */
    public FeatureMap decodeTiled(FeatureMap latents, int tile, int overlap) {
        return LatentTiles.decode(unscale(latents), tile, overlap, downscale, this::decodeRaw);
    }

    /** The posterior mean, scaled into UNet space. */
    public FeatureMap encodeMean(FeatureMap image) {
        FeatureMap moments = moments(image);
        return scale(moments, null);
    }

    /** A posterior sample mean + exp(logvar/2)·noise (logvar clamped to [-30, 20]), scaled into UNet space. */
    public FeatureMap encode(FeatureMap image, FeatureMap noise) {
        FeatureMap moments = moments(image);
        if (noise.batch() != moments.batch() || noise.height() != moments.height() || noise.width() != moments.width()
                || noise.channels() != latentChannels) {
            throw new IllegalArgumentException("noise must be " + moments.batch() + "x" + moments.height() + "x"
                    + moments.width() + "x" + latentChannels);
        }
        return scale(moments, noise.data());
    }

    /** As {@link #encode(FeatureMap, FeatureMap)} with standard normal noise drawn from {@code rng}. */
    @Override
    public FeatureMap encode(FeatureMap image, Random rng) {
        int n = image.batch() * (image.height() / downscale) * (image.width() / downscale) * latentChannels;
        float[] noise = new float[n];
        for (int i = 0; i < n; i++) noise[i] = (float) rng.nextGaussian();
        return encode(image, new FeatureMap(noise, image.batch(), image.height() / downscale, image.width() / downscale, latentChannels));
    }

    /** The encoder's raw output: per latent pixel, L means then L log-variances (unscaled; for training). */
    public FeatureMap moments(FeatureMap image) {
        if (image.channels() != inChannels) throw new IllegalArgumentException("image must have " + inChannels + " channels, got " + image.channels());
        if (image.height() % downscale != 0 || image.width() % downscale != 0) {
            throw new IllegalArgumentException("image " + image.height() + "x" + image.width() + " is not a multiple of " + downscale);
        }
        FeatureMap m = encoder.forward(image);
        return quantConv == null ? m : quantConv.forward(m);
    }

    /** Channels [0, L) of the moments are the mean, [L, 2L) the log-variance. */
    private FeatureMap scale(FeatureMap moments, float[] noise) {
        int l = latentChannels, pixels = moments.batch() * moments.pixels();
        float[] out = new float[pixels * l];
        for (int p = 0; p < pixels; p++) {
            for (int c = 0; c < l; c++) {
                float z = moments.data()[p * 2 * l + c];
                if (noise != null) {
                    float logvar = Math.max(-30f, Math.min(20f, moments.data()[p * 2 * l + l + c]));
                    z += (float) Math.exp(0.5 * logvar) * noise[p * l + c];
                }
                out[p * l + c] = z;
            }
        }
        latentScaling.toUnet(out);
        return new FeatureMap(out, moments.batch(), moments.height(), moments.width(), l);
    }

    private FeatureMap unscale(FeatureMap latents) {
        if (latents.channels() != latentChannels) {
            throw new IllegalArgumentException("latents must have " + latentChannels + " channels, got " + latents.channels());
        }
        float[] z = latents.data().clone();
        latentScaling.fromUnet(z);
        return latents.with(z);
    }

    /** Decodes unscaled latents (the encoder's space, before {@link LatentScaling}), untiled. */
    public FeatureMap decodeRaw(FeatureMap z) {
        return decoder.forward(postQuantConv == null ? z : postQuantConv.forward(z));
    }
}
