package dev.edgediffuse.scheduler;

/** Inference timestep tables, computed with numpy's arithmetic (linspace, arange, round half to even). */
final class Spacing {
    private Spacing() {}

    /** numpy.arange(start, stop, step) for a float step. */
    static double[] arange(double start, double stop, double step) {
        int n = (int) Math.max(Math.ceil((stop - start) / step), 0);
        double[] out = new double[n];
        if (n == 0) return out;
        double delta = (start + step) - start;
        for (int i = 0; i < n; i++) out[i] = start + i * delta;
        return out;
    }

    /** The DDIM/Euler/LCM-style table of {@code n} descending timesteps, unrounded for Euler's linspace. */
    static double[] standard(NoiseSchedule s, String spacing, int n, boolean roundLinspace) {
        int train = s.numTrainTimesteps();
        double[] out = new double[n];
        switch (spacing) {
            case "linspace" -> {
                for (int i = 0; i < n; i++) {
                    double v = NoiseSchedule.linspaceAt(0, train - 1, n, n - 1 - i);
                    out[i] = roundLinspace ? Math.rint(v) : (float) v;
                }
            }
            case "leading" -> {
                int ratio = train / n;
                for (int i = 0; i < n; i++) out[i] = (double) (n - 1 - i) * ratio + s.stepsOffset();
            }
            case "trailing" -> {
                double[] a = arange(train, 0, -(train / (double) n));
                if (a.length != n) throw new IllegalStateException("trailing spacing produced " + a.length + " steps");
                for (int i = 0; i < n; i++) out[i] = Math.rint(a[i]) - 1;
            }
            default -> throw new IllegalArgumentException("unknown timestep_spacing " + spacing);
        }
        return out;
    }

    static void checkSteps(NoiseSchedule s, int n) {
        if (n < 1) throw new IllegalArgumentException("steps must be at least 1: " + n);
        if (n > s.numTrainTimesteps()) {
            throw new IllegalArgumentException("steps " + n + " exceeds num_train_timesteps " + s.numTrainTimesteps());
        }
    }
}
