package dev.edgediffuse.compress;

import dev.edgediffuse.tensor.DType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The budgeted plan against brute force over every combination of formats, and its edges. */
class MixedPrecisionTest {
    static final List<DType> FORMATS = List.of(DType.Q4_64Z, DType.Q4_32, DType.Q8, DType.F16);
    static final double[] BITS = {4.375, 4.5, 8.03, 16};

    static Map<String, List<Sensitivity.Entry>> random(int layers, long seed) {
        Random r = new Random(seed);
        Map<String, List<Sensitivity.Entry>> m = new LinkedHashMap<>();
        for (int l = 0; l < layers; l++) {
            long params = 1000 + r.nextInt(50_000);
            double base = Math.exp(r.nextGaussian() * 2);
            List<Sensitivity.Entry> rows = new ArrayList<>();
            for (int f = 0; f < FORMATS.size(); f++) {
                double mse = f == 3 ? 0 : base * Math.pow(16, -f) * (0.5 + r.nextDouble());
                rows.add(new Sensitivity.Entry("layer" + l, params, FORMATS.get(f), BITS[f], mse, true));
            }
            m.put("layer" + l, rows);
        }
        return m;
    }

    /** The least summed error of any combination within the budget. */
    static double bruteForce(List<List<Sensitivity.Entry>> layers, int i, double bitsLeft) {
        if (i == layers.size()) return 0;
        double best = Double.POSITIVE_INFINITY;
        for (Sensitivity.Entry e : layers.get(i)) {
            double cost = e.bits() * e.params();
            if (cost <= bitsLeft + 1e-9) best = Math.min(best, e.mse() + bruteForce(layers, i + 1, bitsLeft - cost));
        }
        return best;
    }

    @Test
    void thePlanIsTheBestCombinationWithinTheBudget() {
        for (long seed = 1; seed <= 12; seed++) {
            Map<String, List<Sensitivity.Entry>> options = random(6, seed);
            long params = 0;
            for (List<Sensitivity.Entry> o : options.values()) params += o.getFirst().params();
            double target = 4.5 + seed * 0.6;
            MixedPrecision.Plan plan = MixedPrecision.plan(options, Map.of(), target * params);
            double exact = bruteForce(new ArrayList<>(options.values()), 0, target * params);
            assertTrue(plan.averageBits() <= target + 1e-9, "over budget: " + plan.averageBits() + " > " + target);
            // the budget is cut into 100,000 units: the plan may miss the optimum only by what one unit per layer buys
            assertTrue(plan.predictedMse() <= exact * 1.0001 + 1e-12, "seed " + seed + ": plan " + plan.predictedMse() + " vs best " + exact);
        }
    }

    @Test
    void fixedLayersCountAgainstTheBudgetAndAreKept() {
        Map<String, List<Sensitivity.Entry>> options = random(5, 3);
        Sensitivity.Entry fixed = new Sensitivity.Entry("fixed", 40_000, DType.F16, 16, 0, false);
        long params = 40_000;
        for (List<Sensitivity.Entry> o : options.values()) params += o.getFirst().params();
        MixedPrecision.Plan plan = MixedPrecision.plan(options, Map.of("fixed", fixed), 9.0 * params);
        assertEquals(DType.F16, plan.formats().get("fixed"));
        assertEquals("rule", plan.why().get("fixed"));
        assertTrue(plan.averageBits() <= 9.0 + 1e-9, "average " + plan.averageBits());
    }

    @Test
    void aBudgetBelowTheSmallestFormatsIsAnError() {
        Map<String, List<Sensitivity.Entry>> options = random(4, 5);
        long params = 0;
        for (List<Sensitivity.Entry> o : options.values()) params += o.getFirst().params();
        long p = params;
        String msg = assertThrows(IllegalArgumentException.class, () -> MixedPrecision.plan(options, Map.of(), 4.2 * p)).getMessage();
        assertTrue(msg.contains("below what the smallest formats allow (4.375"), msg);
    }

    @Test
    void aGenerousBudgetBuysTheLeastError() {
        Map<String, List<Sensitivity.Entry>> options = random(5, 9);
        long params = 0;
        for (List<Sensitivity.Entry> o : options.values()) params += o.getFirst().params();
        // costs are rounded up to whole units of the budget: a hair above 16 bits buys f16 everywhere
        MixedPrecision.Plan plan = MixedPrecision.plan(options, Map.of(), 16.01 * params);
        for (DType f : plan.formats().values()) assertEquals(DType.F16, f);
        assertEquals(0.0, plan.predictedMse());
    }
}
