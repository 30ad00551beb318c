package dev.edgediffuse.scheduler;

import dev.edgediffuse.format.Config;

/**
 * DPM-Solver++ multistep (data prediction), orders 1 and 2 with the midpoint (default) or heun second-order
 * update; diffusers' DPMSolverMultistepScheduler defaults: linspace spacing, lower_order_final, final σ = 0 (so the
 * last step is always first order), init noise σ 1 and no input scaling. With Karras sigmas the ρ = 7 spacing runs
 * over the whole training σ range and the UNet timesteps are mapped back from σ and rounded.
 * <p>Carried state: the previous converted output (x₀ estimate) and how many steps have run since setTimesteps.
 */
public final class DpmSolverMultistepScheduler extends BaseScheduler {
    private final String spacing;
    private final boolean karras;
    private final int solverOrder;
    private final boolean heun;
    private final boolean lowerOrderFinal;
    private final boolean eulerAtFinal;
    private final boolean finalSigmaZero;
    private float[] sigmas;
    private float[][] history;
    private int lowerOrderNums;

    public DpmSolverMultistepScheduler(Config config, boolean karras) {
        super(karras ? "dpmpp_2m_karras" : "dpmpp_2m", NoiseSchedule.of(config));
        this.spacing = schedule.timestepSpacing("linspace");
        this.karras = karras;
        this.solverOrder = config.getInt("solver_order", 2);
        if (solverOrder != 1 && solverOrder != 2) {
            throw new IllegalArgumentException(config.source() + ": solver_order " + solverOrder + " is not supported (1 or 2)");
        }
        String algorithm = config.getString("algorithm_type", "dpmsolver++");
        if (!algorithm.equals("dpmsolver++")) {
            throw new IllegalArgumentException(config.source() + ": algorithm_type " + algorithm + " is not supported (dpmsolver++)");
        }
        String solverType = config.getString("solver_type", "midpoint");
        if (!solverType.equals("midpoint") && !solverType.equals("heun")) {
            throw new IllegalArgumentException(config.source() + ": solver_type " + solverType + " is not supported");
        }
        this.heun = solverType.equals("heun");
        this.lowerOrderFinal = config.getBool("lower_order_final", true);
        this.eulerAtFinal = config.getBool("euler_at_final", false);
        String finalType = config.getString("final_sigmas_type", "zero");
        if (!finalType.equals("zero") && !finalType.equals("sigma_min")) {
            throw new IllegalArgumentException(config.source() + ": final_sigmas_type " + finalType + " is not supported");
        }
        this.finalSigmaZero = finalType.equals("zero");
    }

    @Override
    public void setTimesteps(int steps) {
        Spacing.checkSteps(schedule, steps);
        int train = schedule.numTrainTimesteps();
        timesteps = new float[steps];
        sigmas = new float[steps + 1];
        if (karras) {
            double[] sig = NoiseSchedule.karrasSigmas(schedule.sigma(0), schedule.sigma(train - 1), steps);
            boolean round = !schedule.betaSchedule().equals("squaredcos_cap_v2");
            for (int i = 0; i < steps; i++) {
                double t = schedule.sigmaToT(sig[i]);
                timesteps[i] = (float) (long) (round ? Math.rint(t) : t);
                sigmas[i] = (float) sig[i];
            }
        } else {
            int[] ts = dpmTimesteps(steps, train);
            for (int i = 0; i < steps; i++) {
                timesteps[i] = ts[i];
                sigmas[i] = (float) schedule.interpSigma(ts[i]);
            }
        }
        sigmas[steps] = finalSigmaZero ? 0f : schedule.sigma(0);
        history = new float[solverOrder][];
        lowerOrderNums = 0;
        nextStep = 0;
    }

    private int[] dpmTimesteps(int n, int train) {
        int[] out = new int[n];
        switch (spacing) {
            case "linspace" -> {
                for (int i = 0; i < n; i++) out[i] = (int) Math.rint(NoiseSchedule.linspaceAt(0, train - 1, n + 1, n - i));
            }
            case "leading" -> {
                int ratio = train / (n + 1);
                for (int i = 0; i < n; i++) out[i] = (n - i) * ratio + schedule.stepsOffset();
            }
            case "trailing" -> {
                double[] a = Spacing.arange(train, 0, -(train / (double) n));
                if (a.length != n) throw new IllegalStateException("trailing spacing produced " + a.length + " steps");
                for (int i = 0; i < n; i++) out[i] = (int) Math.rint(a[i]) - 1;
            }
            default -> throw new IllegalArgumentException("unknown timestep_spacing " + spacing);
        }
        return out;
    }

    /** σ per step, plus the final σ. */
    public float[] sigmas() {
        requireTimesteps();
        return sigmas.clone();
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    private static float alphaOf(float sigma) {
        return 1f / (float) Math.sqrt(sigma * sigma + 1f);
    }

    private static float lambdaOf(float alpha, float sigmaT) {
        return (float) Math.log(alpha) - (float) Math.log(sigmaT);
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        checkIndex(stepIndex);
        checkSameLength(modelOutput, sample);
        if (lowerOrderNums > 0 && stepIndex != nextStep) {
            throw new IllegalStateException(name + ": step " + stepIndex + " after step " + (nextStep - 1)
                    + "; the multistep history only continues in order (setTimesteps to start over)");
        }
        int n = timesteps.length;
        boolean finalLow = stepIndex == n - 1 && (eulerAtFinal || (lowerOrderFinal && n < 15) || finalSigmaZero);

        float s0 = sigmas[stepIndex];
        float alphaS0 = alphaOf(s0), sigmaS0 = s0 * alphaS0;
        float[] x0 = new float[sample.length];
        for (int i = 0; i < x0.length; i++) {
            x0[i] = prediction == PredictionType.EPSILON
                    ? (sample[i] - sigmaS0 * modelOutput[i]) / alphaS0
                    : alphaS0 * sample[i] - sigmaS0 * modelOutput[i];
        }
        for (int k = 0; k < solverOrder - 1; k++) history[k] = history[k + 1];
        history[solverOrder - 1] = x0;

        float st = sigmas[stepIndex + 1];
        float alphaT = alphaOf(st), sigmaT = st * alphaT;
        float lambdaT = lambdaOf(alphaT, sigmaT), lambdaS0 = lambdaOf(alphaS0, sigmaS0);
        float h = lambdaT - lambdaS0;
        float ratio = sigmaT / sigmaS0;
        float em1 = (float) Math.exp(-h) - 1f;
        float c0 = alphaT * em1;
        float[] out = new float[sample.length];
        if (solverOrder == 1 || lowerOrderNums < 1 || finalLow) {
            for (int i = 0; i < out.length; i++) out[i] = ratio * sample[i] - c0 * x0[i];
        } else {
            float s1 = sigmas[stepIndex - 1];
            float alphaS1 = alphaOf(s1), sigmaS1 = s1 * alphaS1;
            float h0 = lambdaS0 - lambdaOf(alphaS1, sigmaS1);
            float r0 = h0 / h;
            float inv = 1f / r0;
            float[] m1 = history[solverOrder - 2];
            float c1 = heun ? -(alphaT * (em1 / h + 1f)) : 0.5f * c0;
            for (int i = 0; i < out.length; i++) {
                float d1 = inv * (x0[i] - m1[i]);
                out[i] = ratio * sample[i] - c0 * x0[i] - c1 * d1;
            }
        }
        if (lowerOrderNums < solverOrder) lowerOrderNums++;
        nextStep = stepIndex + 1;
        return out;
    }

    @Override
    public float[] addNoise(float[] x0, float[] noise, int stepIndex) {
        checkIndex(stepIndex);
        checkSameLength(x0, noise);
        float s = sigmas[stepIndex];
        float alpha = alphaOf(s), sigmaT = s * alpha;
        float[] out = new float[x0.length];
        for (int i = 0; i < out.length; i++) out[i] = alpha * x0[i] + sigmaT * noise[i];
        return out;
    }

    @Override
    public SchedulerState state() {
        requireTimesteps();
        return new SchedulerState(name, timesteps.length, timesteps, nextStep, lowerOrderNums, history);
    }

    @Override
    protected void restoreHistory(SchedulerState state) {
        float[][] h = state.history();
        if (h.length != solverOrder) {
            throw new IllegalArgumentException(name + ": state holds " + h.length + " outputs, solver_order is " + solverOrder);
        }
        history = h;
        lowerOrderNums = state.lowerOrderNums();
    }
}
