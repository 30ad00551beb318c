package dev.edgediffuse.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The FID target is judged only at the image counts it is set for. */
class EvalReportTest {
    private static EvalReport report(int samples, int testImages, double fid, double floorFid) {
        var accuracy = new EvalReport.Accuracy(new int[]{9, 9}, new int[]{10, 10}, 0.9);
        return new EvalReport("m", samples, testImages, 128, 0.92, accuracy, new FrechetDistance.Terms(0.25, fid - 0.25),
                new EvalReport.Floor(samples, floorFid, Double.NaN, List.of()),
                new EvalReport.Throughput(samples, 1, samples, 1, 50), null, null, null, null);
    }

    @Test
    void fidIsShownWithItsTwoTerms() {
        EvalReport r = report(10_000, 10_000, 2.0, 1.0);
        assertTrue(r.text().contains("FID (classifier features, 128-d): 2.000 (means 0.250 + covariances 1.750)"), r.text());
        String json = r.json(java.util.Map.of());
        assertTrue(json.contains("\"fid_means_term\"") && json.contains("\"fid_covariances_term\""), json);
    }

    @Test
    void fidRatioIsJudgedAtTenThousandImagesOnly() {
        assertEquals(Boolean.TRUE, report(10_000, 10_000, 2.0, 1.0).fidRatioMet());
        assertEquals(Boolean.FALSE, report(10_000, 10_000, 3.5, 1.0).fidRatioMet());
        assertNull(report(1_000, 10_000, 2.0, 1.0).fidRatioMet());
        assertNull(report(10_000, 500, 2.0, 1.0).fidRatioMet());
        assertTrue(report(1_000, 10_000, 2.0, 1.0).text().contains("ratio 2.00x (target <= 3x: judged at 10000 vs 10000 images only)"));
        assertTrue(report(10_000, 10_000, 3.5, 1.0).text().contains("ratio 3.50x (target <= 3x: not met)"));
    }
}
