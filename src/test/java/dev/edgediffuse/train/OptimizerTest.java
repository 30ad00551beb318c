package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AdamW and EMA over arrays of several chunks, against the textbook formulas written out element by element. */
class OptimizerTest {
    private static final int ROWS = 1200, WIDTH = 64; // 76,800 elements: three chunks, the last one partial

    private static Parameters table() {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapes.put("table", new int[]{ROWS, WIDTH});
        shapes.put("bias", new int[]{WIDTH});
        Parameters p = Parameters.initialize(shapes, new Rng(5));
        float[] t = p.get("table"), b = p.get("bias");
        for (int r = 0; r < ROWS; r += 6) java.util.Arrays.fill(t, r * WIDTH, (r + 1) * WIDTH, 0f); // unused rows, as in the token table
        for (int i = 0; i < b.length; i++) b[i] = 0.1f * i;
        return p;
    }

    /** Gradients of step s: rows ≡ 1 (mod 3) always, rows ≡ 2 (mod 3) at the first step only, rows ≡ 0 never (half of those zero). */
    private static float[] gradient(int rows, int step, int salt) {
        float[] g = new float[rows * WIDTH];
        Rng r = new Rng(100L * step + salt);
        for (int row = 0; row < rows; row++) {
            if (row % 3 == 0 || (row % 3 == 2 && step > 0)) continue;
            for (int k = 0; k < WIDTH; k++) g[row * WIDTH + k] = r.nextGaussian();
        }
        return g;
    }

    @Test
    void adamWMatchesTheTextbookUpdateOnEveryChunk() {
        Parameters p = table();
        float[] w = p.get("table").clone(), bias = p.get("bias").clone();
        double[] m = new double[w.length], v = new double[w.length], mb = new double[bias.length], vb = new double[bias.length];
        double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01, lr = 1e-2, clipNorm = 200; // the first step's norm (~230) is clipped, the later ones (~160) are not
        AdamW adam = new AdamW(p, b1, b2, eps, wd, clipNorm);
        int clipped = 0;
        for (int step = 0; step < 4; step++) {
            float[] g = gradient(ROWS, step, 1), gb = new float[WIDTH];
            Rng rb = new Rng(step + 7);
            for (int i = 0; i < gb.length; i++) gb[i] = rb.nextGaussian();
            double norm = 0;
            for (float x : g) norm += (double) x * x;
            for (float x : gb) norm += (double) x * x;
            norm = Math.sqrt(norm);
            double clip = norm > clipNorm ? clipNorm / norm : 1;
            if (clip < 1) clipped++;
            try (Tape tape = Tape.begin(p.arrays())) {
                tape.accumulate(p.get("table"), g);
                tape.accumulate(p.get("bias"), gb);
                assertEquals(norm, adam.step(tape, lr), 1e-9 * norm);
            }
            int t = step + 1;
            for (int i = 0; i < w.length; i++) {
                double gi = g[i] * clip;
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mHat = m[i] / (1 - Math.pow(b1, t)), vHat = v[i] / (1 - Math.pow(b2, t));
                w[i] = (float) (w[i] - lr * wd * w[i] - lr * mHat / (Math.sqrt(vHat) + eps)); // matrices decay
            }
            for (int i = 0; i < bias.length; i++) {
                double gi = gb[i] * clip;
                mb[i] = b1 * mb[i] + (1 - b1) * gi;
                vb[i] = b2 * vb[i] + (1 - b2) * gi * gi;
                double mHat = mb[i] / (1 - Math.pow(b1, t)), vHat = vb[i] / (1 - Math.pow(b2, t));
                bias[i] = (float) (bias[i] - lr * mHat / (Math.sqrt(vHat) + eps)); // vectors do not
            }
        }
        float[] got = p.get("table");
        for (int i = 0; i < w.length; i++) assertEquals(w[i], got[i], 2e-6, "table[" + i + "] (row " + i / WIDTH + ")");
        for (int i = 0; i < bias.length; i++) assertEquals(bias[i], p.get("bias")[i], 2e-6, "bias[" + i + "]");
        assertTrue(clipped > 0 && clipped < 4, clipped + " of 4 steps clipped; the test should cover both cases");
        // zero rows never given a gradient stay exactly zero; rows given one only at the first step moved (the textbook
        // comparison above checks that they went on moving on momentum)
        float[] initial = table().get("table");
        for (int k = 0; k < WIDTH; k++) {
            assertEquals(0f, got[(ROWS - 6) * WIDTH + k]);
            assertTrue(got[(ROWS - 1) * WIDTH + k] != initial[(ROWS - 1) * WIDTH + k]);
        }
    }

    @Test
    void emaMatchesTheWarmedUpAverageOnEveryChunk() {
        checkEma(true);
    }

    @Test
    void emaOfAFineTuneAveragesAtItsDecayFromTheFirstStep() {
        checkEma(false);
    }

    private static void checkEma(boolean warmUp) {
        Parameters p = table();
        Ema ema = new Ema(p, 0.99, warmUp);
        double[] want = new double[ROWS * WIDTH];
        float[] t = p.get("table");
        for (int i = 0; i < want.length; i++) want[i] = t[i];
        for (int step = 1; step <= 5; step++) {
            float[] g = gradient(ROWS, step, 3);
            for (int i = 0; i < t.length; i++) t[i] += 0.1f * g[i];
            ema.update(p, step);
            double d = warmUp ? Math.min(0.99, (1.0 + step) / (10.0 + step)) : 0.99;
            for (int i = 0; i < want.length; i++) want[i] = d * want[i] + (1 - d) * t[i];
        }
        float[] got = ema.weights().get("table");
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-6, "table[" + i + "]");
        assertTrue(Chunk.split(p).size() >= 3, "the table should span several chunks");
        assertEquals(List.of("table", "bias"), ema.weights().names());
    }
}
