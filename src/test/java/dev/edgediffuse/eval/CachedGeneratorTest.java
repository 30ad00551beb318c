package dev.edgediffuse.eval;

import dev.edgediffuse.tensor.FeatureMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A cached generator returns the inner generator's images bit for bit, generates each job once, and refuses another key. */
class CachedGeneratorTest {
    /** Images that depend on the job (seed and index), counting the jobs it is asked for. */
    static final class Counting implements ImageGenerator {
        int generated;

        @Override
        public List<FeatureMap> generate(List<EvalPlan.Job> jobs) {
            List<FeatureMap> out = new ArrayList<>();
            for (EvalPlan.Job j : jobs) {
                float[] v = new float[4 * 4 * 3];
                for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(j.seed() * 0.37 + i * 0.11 + j.index());
                out.add(new FeatureMap(v, 1, 4, 4, 3));
                generated++;
            }
            return out;
        }

        @Override
        public String name() {
            return "counting";
        }
    }

    @Test
    void eachJobIsGeneratedOnceAndReadBackExactly(@TempDir Path dir) {
        List<EvalPlan.Job> jobs = List.of(new EvalPlan.Job(0, 1, "a shirt", 5), new EvalPlan.Job(1, 2, "a bag", 6));
        Counting inner = new Counting();
        List<FeatureMap> direct = new Counting().generate(jobs);
        CachedGenerator cached = new CachedGenerator(inner, dir, "model A\n");
        List<FeatureMap> first = cached.generate(jobs);
        assertEquals(2, inner.generated);
        List<FeatureMap> again = new CachedGenerator(inner, dir, "model A\n").generate(List.of(jobs.get(1), jobs.get(0)));
        assertEquals(2, inner.generated, "read from the cache, not generated again");
        assertArrayEquals(direct.get(0).data(), first.get(0).data());
        assertArrayEquals(direct.get(1).data(), again.get(0).data());
        assertArrayEquals(direct.get(0).data(), again.get(1).data());
        String msg = assertThrows(IllegalArgumentException.class, () -> new CachedGenerator(inner, dir, "model B\n")).getMessage();
        assertTrue(msg.contains("caches another reference or settings"), msg);
    }
}
