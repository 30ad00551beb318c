package dev.edgediffuse.workflow;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** The Pareto front of points where smaller x is better and y is better in one direction: none beats them in both. */
final class Pareto {
    private Pareto() {}

    /** Indices of the points on the front, in order of x; {@code higherIsBetter} says which way y improves. */
    static List<Integer> front(double[] x, double[] y, boolean higherIsBetter) {
        List<Integer> on = new ArrayList<>();
        for (int i = 0; i < x.length; i++) {
            if (Double.isNaN(x[i]) || Double.isNaN(y[i])) continue;
            boolean dominated = false;
            for (int j = 0; j < x.length && !dominated; j++) {
                if (j == i || Double.isNaN(x[j]) || Double.isNaN(y[j])) continue;
                boolean yNoWorse = higherIsBetter ? y[j] >= y[i] : y[j] <= y[i];
                boolean yBetter = higherIsBetter ? y[j] > y[i] : y[j] < y[i];
                dominated = x[j] <= x[i] && yNoWorse && (x[j] < x[i] || yBetter);
            }
            if (!dominated) on.add(i);
        }
        on.sort(Comparator.comparingDouble(i -> x[i]));
        return on;
    }
}
