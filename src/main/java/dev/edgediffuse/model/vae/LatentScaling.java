package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;

/**
 * How the encoder's latents z map to the UNet's: u = (z − shift_c)·factor_c per latent channel c. SD's VAE configs give
 * one {@code scaling_factor} (and SD3's a {@code shift_factor}) for all channels; diffusers' {@code latents_mean} and
 * {@code latents_std} (Playground v2.5, EDM-style) standardize each channel, u = (z − mean_c)·scaling_factor / std_c.
 */
public record LatentScaling(float[] shift, float[] factor) {
    public static LatentScaling of(Config config, int channels, double defaultScaling) {
        double scaling = config.getDouble("scaling_factor", defaultScaling);
        if (!(scaling > 0) || Double.isInfinite(scaling)) {
            throw new ModelFormatException(config.source() + ": scaling_factor must be a positive number, got " + scaling);
        }
        float[] shift = new float[channels], factor = new float[channels];
        boolean hasMean = config.has("latents_mean"), hasStd = config.has("latents_std");
        if (hasMean != hasStd) {
            throw new ModelFormatException(config.source() + ": latents_mean and latents_std must be given together");
        }
        if (hasMean) {
            double[] mean = perChannel(config, "latents_mean", channels), std = perChannel(config, "latents_std", channels);
            for (int c = 0; c < channels; c++) {
                if (!(std[c] > 0)) throw new ModelFormatException(config.source() + ": latents_std must be positive, got " + std[c]);
                shift[c] = (float) mean[c];
                factor[c] = (float) (scaling / std[c]);
            }
        } else {
            java.util.Arrays.fill(shift, (float) config.getDouble("shift_factor", 0.0));
            java.util.Arrays.fill(factor, (float) scaling);
        }
        return new LatentScaling(shift, factor);
    }

    /** The map of a VAE config of either class (AutoencoderTiny defaults to 1.0, AutoencoderKL to SD's 0.18215). */
    public static LatentScaling ofVae(Config config, int channels) {
        return of(config, channels, "AutoencoderTiny".equals(config.getString("_class_name", "AutoencoderKL")) ? 1.0 : 0.18215);
    }

    /** The same map, value for value. */
    public boolean sameAs(LatentScaling o) {
        return java.util.Arrays.equals(shift, o.shift) && java.util.Arrays.equals(factor, o.factor);
    }

    @Override
    public String toString() {
        return "(z - " + java.util.Arrays.toString(shift) + ") * " + java.util.Arrays.toString(factor);
    }

    private static double[] perChannel(Config config, String key, int channels) {
        double[] v = config.getDoubles(key);
        if (v.length != channels) {
            throw new ModelFormatException(config.source() + ": " + key + " has " + v.length + " values, latent_channels is " + channels);
        }
        for (double x : v) {
            if (!Double.isFinite(x)) throw new ModelFormatException(config.source() + ": " + key + " holds a non-finite value");
        }
        return v;
    }

    public int channels() {
        return factor.length;
    }

    /** Channels-last encoder latents → UNet space, in place. */
    public void toUnet(float[] z) {
        int l = factor.length;
        for (int i = 0; i < z.length; i++) z[i] = (z[i] - shift[i % l]) * factor[i % l];
    }

    /** Channels-last UNet latents → the encoder's space, in place. */
    public void fromUnet(float[] u) {
        int l = factor.length;
        for (int i = 0; i < u.length; i++) u[i] = u[i] / factor[i % l] + shift[i % l];
    }
}
