package dev.edgediffuse.kernels;

import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every kernel gives the same bits at every vector width: the fingerprints below were recorded with the build that
 * hard-coded 256-bit vectors (before {@link VectorWidth}), and CI checks them at the default width and under
 * {@code -XX:MaxVectorSize=16}. The shapes leave tails of every kind: channel counts that are not multiples of 8 or
 * 16, rows that do not fill a micro-kernel tile, panels narrower than {@link Gemm#NR}.
 */
class KernelBitsTest {
    @Test
    void gemmOverEveryWeightFormatAndPanelSource() {
        Random r = new Random(11);
        Fingerprint f = new Fingerprint();
        float[] a = random(r, 61 * 320);
        float[] w = random(r, 80 * 320), bias = random(r, 80);
        for (DType t : new DType[]{DType.F32, DType.F16, DType.Q8, DType.Q8_32, DType.Q4_32, DType.Q4_64Z}) {
            Weight q = switch (t) {
                case F32 -> Weight.ofFloats("w", w, 80, 320);
                case F16 -> half(w, 80, 320);
                default -> Quantizer.quantize(Weight.ofFloats("w", w, 80, 320), t, Quantizer.Clip.ABSMAX);
            };
            float[] c = new float[61 * 80];
            Gemm.multiply(a, 0, 320, 61, new WeightPanels(q), t == DType.F16 ? null : bias, c, 0, 80);
            f.add(c);
        }
        for (int n : new int[]{40, 16, 33}) {
            float[] c = new float[61 * n];
            Gemm.multiply(a, 0, 320, 61, new StridedPanels(w, 0, 1, 320, 320, n), null, c, 0, n);
            f.add(c);
        }
        f.add(Matmul.nn(a, 61, 320, w, 80));
        f.add(Matmul.nt(a, 61, 320, w, 80));
        f.add(Matmul.tn(random(r, 700 * 29), 700, 29, random(r, 700 * 37), 37));
        f.add(Matmul.tn(random(r, 100 * 29), 100, 29, random(r, 100 * 37), 37));
        assertEquals(8542283434836066156L, f.value());
    }

    @Test
    void convolutionsWithEveryPrologue() {
        Random r = new Random(12);
        Fingerprint f = new Fingerprint();
        int cin = 20, cout = 24;
        float[] x = random(r, 2 * 9 * 7 * cin), gamma = random(r, cin), beta = random(r, cin), bias = random(r, cout);
        WeightPanels w3 = new WeightPanels(Weight.ofFloats("w", random(r, cout * cin * 9), cout, cin, 3, 3));
        f.add(Conv2d.conv(x, 2, 9, 7, cin, w3, 3, 3, 1, new int[]{1, 1, 1, 1}, bias));
        f.add(Conv2d.conv(x, 2, 9, 7, cin, w3, 3, 3, 2, new int[]{0, 1, 0, 1}, null));
        f.add(Conv2d.conv(x, 2, 9, 7, cin, w3, 3, 3, 1, new int[]{1, 1, 1, 1}, bias,
                Conv2d.Prologue.normalize(Norms.groupNormAffine(x, 2, 63, cin, 4, 1e-5f, gamma, beta), true), 300));
        f.add(Conv2d.conv(x, 2, 9, 7, cin, w3, 3, 3, 1, new int[]{1, 1, 1, 1}, bias, Conv2d.Prologue.UPSAMPLE_2X));
        ConvGrad.Shape s = new ConvGrad.Shape(2, 9, 7, cin, cout, 3, 1, new int[]{1, 1, 1, 1});
        float[] dy = random(r, 2 * 9 * 7 * cout), weight = random(r, cout * cin * 9);
        f.add(ConvGrad.inputGrad(dy, weight, s));
        f.add(ConvGrad.weightGrad(x, dy, s));
        assertEquals(-2401661752534827755L, f.value());
    }

    @Test
    void normsAndTheirGradients() {
        Random r = new Random(13);
        Fingerprint f = new Fingerprint();
        for (int c : new int[]{36, 320, 44}) {
            float[] x = random(r, 2 * 300 * c), dy = random(r, x.length), gamma = random(r, c), beta = random(r, c);
            f.add(Norms.groupNorm(x, 2, 300, c, 4, 1e-5f, gamma, beta, true));
            f.add(Norms.groupNorm(x, 2, 300, c, 4, 1e-6f, gamma, beta, false));
            f.add(Norms.layerNorm(x, 600, c, 1e-5f, gamma, beta));
            float[] dGamma = new float[c], dBeta = new float[c];
            f.add(NormGrad.groupNorm(x, dy, 2, 300, c, 4, 1e-5f, gamma, beta, true, true, dGamma, dBeta));
            f.add(NormGrad.layerNorm(x, dy, 600, c, 1e-5f, gamma, true, dGamma, dBeta));
            f.add(dGamma);
            f.add(dBeta);
        }
        assertEquals(-4056932322733160652L, f.value());
    }

    @Test
    void attentionAndSoftmax() {
        Random r = new Random(14);
        Fingerprint f = new Fingerprint();
        int heads = 2, d = 40, c = heads * d;
        float[] q = random(r, 2 * 70 * c), k = random(r, 2 * 77 * c), v = random(r, 2 * 77 * c), dOut = random(r, 2 * 70 * c);
        f.add(Attention.attend(q, k, v, 2, 70, 77, heads, d, false));
        f.add(Attention.attend(q, q, q, 2, 70, 70, heads, d, true));
        for (float[] g : AttentionGrad.attend(q, k, v, dOut, 2, 70, 77, heads, d, false)) f.add(g);
        for (int valid : new int[]{1, 5, 8, 13, 16, 24, 77, 100}) {
            float[] row = random(r, 100);
            Attention.softmaxRow(row, 0, valid, 100, 0.37f);
            f.add(row);
        }
        assertEquals(-3368708485739701060L, f.value());
    }

    @Test
    void activationsAndTheirGradients() {
        Random r = new Random(15);
        Fingerprint f = new Fingerprint();
        int n = (1 << 14) + 1000 + 13;
        float[] x = random(r, n), dy = random(r, n);
        for (int i = 0; i < n; i += 97) x[i] *= 40; // the exp clamps and erf's far tails
        float[] y = x.clone();
        Activations.silu(y);
        f.add(y);
        y = x.clone();
        Activations.gelu(y);
        f.add(y);
        y = x.clone();
        Activations.quickGelu(y);
        f.add(y);
        y = x.clone();
        Activations.addInPlace(y, 5, java.util.Arrays.copyOf(dy, n - 5));
        f.add(y);
        for (int d : new int[]{40, 44, 320}) {
            int rows = n / (2 * d);
            float[] in = java.util.Arrays.copyOf(x, rows * 2 * d);
            f.add(Activations.geglu(in, rows, d));
            f.add(ActivationGrad.geglu(in, java.util.Arrays.copyOf(dy, rows * d), rows, d));
        }
        f.add(ActivationGrad.silu(x, dy));
        f.add(ActivationGrad.gelu(x, dy));
        f.add(ActivationGrad.quickGelu(x, dy));
        assertEquals(2532748560291505338L, f.value());
    }

    @Test
    void optimizerSteps() {
        Random r = new Random(16);
        Fingerprint f = new Fingerprint();
        int n = 1003;
        float[] w = random(r, n), m = new float[n], v = new float[n];
        for (int step = 1; step <= 3; step++) {
            float[] g = random(r, n);
            java.util.Arrays.fill(g, 100, 300, 0f); // rows no caption used: they only decay
            java.util.Arrays.fill(g, 501, 509, 0f);
            double sum = Optimizer.sumOfSquares(g, 0.25);
            f.add(new float[]{(float) sum, (float) (sum - (float) sum)});
            Optimizer.AdamWStep s = new Optimizer.AdamWStep(0.9f, 0.9f, 0.999f, 1 - Math.pow(0.9, step), 1 - Math.pow(0.999, step),
                    1e-8f, 1e-3, step != 2, 1e-5f);
            Optimizer.adamW(w, g, m, v, 3, n, s);
        }
        f.add(w);
        f.add(m);
        f.add(v);
        assertEquals(3623341250267833843L, f.value());
    }

    private static Weight half(float[] v, int... shape) {
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) h[i] = Float.floatToFloat16(v[i]);
        return new Weight("w", DType.F16, shape, MemorySegment.ofArray(h));
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** A 64-bit hash of the raw bits of every float added, in order. */
    static final class Fingerprint {
        private long h = 1125899906842597L;

        void add(float[] values) {
            h = 31 * h + values.length;
            for (float v : values) h = h * 0x100000001B3L + Float.floatToRawIntBits(v);
        }

        long value() {
            return h;
        }
    }
}
