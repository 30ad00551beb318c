package dev.edgediffuse.workflow;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The report's Pareto fronts: the points no other point beats on both axes, in order of x. */
class ParetoTest {
    @Test
    void keepsExactlyTheUndominatedPoints() {
        double[] size = {10, 5, 6, 2, 5};
        double[] fid = {2.0, 2.5, 3.0, 5.0, 2.6};
        // C (6, 3.0) loses to B (5, 2.5) on both; E (5, 2.6) ties B's size with a worse FID
        assertEquals(List.of(3, 1, 0), Pareto.front(size, fid, false));
        double[] ssim = {1.0, 0.9, 0.95, 0.5, Double.NaN};
        assertEquals(List.of(3, 1, 2, 0), Pareto.front(size, ssim, true), "higher is better; an unmeasured point is on no front");
    }

    @Test
    void nonFiniteFiguresBecomeNullForTheBrowser() {
        Map<String, Object> m = CompressReport.finite(Map.of("a", Double.NaN, "b", List.of(1.0, Double.POSITIVE_INFINITY), "c", "x"));
        assertNull(m.get("a"));
        assertEquals(java.util.Arrays.asList(1.0, null), m.get("b"));
        assertEquals("x", m.get("c"));
    }
}
