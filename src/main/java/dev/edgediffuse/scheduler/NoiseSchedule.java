package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

import java.util.List;

/**
 * The training noise schedule from a scheduler_config.json: betas, ᾱ (alphas_cumprod) and σ = √((1−ᾱ)/ᾱ) per
 * training timestep, kept in float32 as diffusers keeps them, plus the config keys every scheduler shares. Keys a
 * scheduler reads with its own default (timestep_spacing, set_alpha_to_one, clip_sample, ...) are read through
 * {@link #config()}.
 */
public final class NoiseSchedule {
    private final Config config;
    private final int numTrainTimesteps;
    private final String betaSchedule;
    private final PredictionType prediction;
    private final int stepsOffset;
    private final float[] betas;
    private final float[] alphasCumprod;
    private final float[] sigmas;
    private final float[] logSigmas;

    public NoiseSchedule(Config config) {
        this.config = config;
        this.numTrainTimesteps = config.getInt("num_train_timesteps", 1000);
        this.betaSchedule = config.getString("beta_schedule", "linear");
        this.prediction = PredictionType.parse(config.source(), config.getString("prediction_type", "epsilon"));
        this.stepsOffset = config.getInt("steps_offset", 0);
        if (config.getBool("rescale_betas_zero_snr", false)) {
            throw new IllegalArgumentException(config.source() + ": rescale_betas_zero_snr is not supported");
        }
        this.betas = makeBetas(config, numTrainTimesteps, betaSchedule);
        int n = betas.length;
        alphasCumprod = new float[n];
        sigmas = new float[n];
        logSigmas = new float[n];
        double prod = 1;
        for (int t = 0; t < n; t++) {
            prod *= (1f - betas[t]);
            alphasCumprod[t] = (float) prod;
            float a = alphasCumprod[t];
            sigmas[t] = (float) Math.sqrt((1f - a) / a);
            logSigmas[t] = (float) Math.log(sigmas[t]);
        }
    }

    public static NoiseSchedule of(Config config) {
        return new NoiseSchedule(config);
    }

    private static float[] makeBetas(Config c, int n, String schedule) {
        if (c.has("trained_betas")) {
            if (!(c.values().get("trained_betas") instanceof List<?> l) || l.size() != n) {
                throw new IllegalArgumentException(c.source() + ": trained_betas must be a list of " + n + " numbers");
            }
            float[] b = new float[n];
            for (int t = 0; t < n; t++) b[t] = ((Number) l.get(t)).floatValue();
            return b;
        }
        double start = c.getDouble("beta_start", 0.0001), end = c.getDouble("beta_end", 0.02);
        switch (schedule) {
            case "linear":
                return linspace32((float) start, (float) end, n);
            case "scaled_linear": {
                float[] b = linspace32((float) Math.sqrt(start), (float) Math.sqrt(end), n);
                for (int t = 0; t < n; t++) b[t] = b[t] * b[t];
                return b;
            }
            case "squaredcos_cap_v2": {
                float[] b = new float[n];
                for (int t = 0; t < n; t++) {
                    double ratio = cosAlphaBar((t + 1) / (double) n) / cosAlphaBar(t / (double) n);
                    b[t] = (float) Math.min(1 - ratio, 0.999);
                }
                return b;
            }
            default:
                throw new IllegalArgumentException(c.source() + ": beta_schedule \"" + schedule
                        + "\" is not supported (use linear, scaled_linear or squaredcos_cap_v2)");
        }
    }

    private static double cosAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** torch.linspace in float32: the first half counts up from start, the second half down from end. */
    private static float[] linspace32(float start, float end, int n) {
        float[] out = new float[n];
        if (n == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (n - 1);
        int half = n / 2;
        for (int i = 0; i < n; i++) out[i] = i < half ? start + step * i : end - step * (n - i - 1);
        return out;
    }

    public Config config() {
        return config;
    }

    public int numTrainTimesteps() {
        return numTrainTimesteps;
    }

    public String betaSchedule() {
        return betaSchedule;
    }

    public PredictionType prediction() {
        return prediction;
    }

    public int stepsOffset() {
        return stepsOffset;
    }

    /** The config's timestep_spacing, or the given scheduler-specific default when the key is absent. */
    public String timestepSpacing(String schedulerDefault) {
        String s = config.getString("timestep_spacing", schedulerDefault);
        if (!s.equals("leading") && !s.equals("trailing") && !s.equals("linspace")) {
            throw new IllegalArgumentException(config.source() + ": timestep_spacing \"" + s
                    + "\" is not supported (use leading, trailing or linspace)");
        }
        return s;
    }

    public float[] betas() {
        return betas.clone();
    }

    public float[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    public float alphaCumprod(int t) {
        return alphasCumprod[t];
    }

    /** σ at each training timestep (ascending in t). */
    public float[] trainSigmas() {
        return sigmas.clone();
    }

    float sigma(int t) {
        return sigmas[t];
    }

    /** σ at a fractional timestep, linearly interpolated between training timesteps (numpy.interp). */
    public double interpSigma(double t) {
        int last = sigmas.length - 1;
        if (t <= 0) return sigmas[0];
        if (t >= last) return sigmas[last];
        int j = (int) Math.floor(t);
        double slope = (double) sigmas[j + 1] - sigmas[j];
        return slope * (t - j) + sigmas[j];
    }

    /** The fractional timestep whose log σ interpolates to log {@code sigma} (inverse of the schedule). */
    public double sigmaToT(double sigma) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int n = logSigmas.length;
        int count = 0;
        while (count < n && logSigma - logSigmas[count] >= 0) count++;
        int low = Math.min(Math.max(count - 1, 0), n - 2);
        double lo = logSigmas[low], hi = logSigmas[low + 1];
        double w = (lo - logSigma) / (lo - hi);
        w = Math.min(Math.max(w, 0), 1);
        return (1 - w) * low + w * (low + 1);
    }

    /** Karras et al. (2022) ρ = 7 spacing of {@code n} sigmas from sigmaMax down to sigmaMin. */
    public static double[] karrasSigmas(double sigmaMin, double sigmaMax, int n) {
        double rho = 7.0;
        double minInv = Math.pow(sigmaMin, 1 / rho), maxInv = Math.pow(sigmaMax, 1 / rho);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : linspaceAt(0, 1, n, i);
            out[i] = Math.pow(maxInv + ramp * (minInv - maxInv), rho);
        }
        return out;
    }

    /** Element i of numpy.linspace(start, stop, num) (endpoint included), computed as numpy computes it. */
    static double linspaceAt(double start, double stop, int num, int i) {
        if (num == 1) return start;
        if (i == num - 1) return stop;
        double step = (stop - start) / (num - 1);
        return i * step + start;
    }
}
