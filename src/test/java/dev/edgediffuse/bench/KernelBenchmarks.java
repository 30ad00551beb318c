package dev.edgediffuse.bench;

import dev.edgediffuse.kernels.Attention;
import dev.edgediffuse.kernels.Conv2d;
import dev.edgediffuse.kernels.Gemm;
import dev.edgediffuse.kernels.NormGrad;
import dev.edgediffuse.kernels.Norms;
import dev.edgediffuse.kernels.WeightPanels;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Kernel timings at SD1.5 shapes (64×64 latents, batch 2 for CFG). GFLOP/s = 2·MACs / time: linear 8192×320×320
 * = 0.84 GMAC, conv 3×3 320→320 at 64² = 7.55 GMAC, attention 8 heads × 4096² × 40 × 2 = 21.5 GMAC per call.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx3g"})
public class KernelBenchmarks {
    @Param({"F32", "F16"})
    public String dtype;

    float[] tokens, image, q;
    WeightPanels linear, conv;
    float[] gamma, beta;

    @Setup
    public void setup() {
        Random r = new Random(1);
        tokens = random(r, 2 * 4096 * 320);
        image = tokens;
        q = random(r, 2 * 4096 * 320);
        linear = new WeightPanels(weight(random(r, 320 * 320), DType.valueOf(dtype), 320, 320));
        conv = new WeightPanels(weight(random(r, 320 * 320 * 9), DType.valueOf(dtype), 320, 320, 3, 3));
        gamma = random(r, 320);
        beta = random(r, 320);
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() - 0.5f;
        return v;
    }

    private static Weight weight(float[] v, DType t, int... shape) {
        if (t == DType.F32) return Weight.ofFloats("w", v, shape);
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) h[i] = Float.floatToFloat16(v[i]);
        return new Weight("w", DType.F16, shape, MemorySegment.ofArray(h));
    }

    @Benchmark
    public float[] linear320() {
        float[] y = new float[8192 * 320];
        Gemm.multiply(tokens, 0, 320, 8192, linear, null, y, 0, 320);
        return y;
    }

    @Benchmark
    public float[] conv3x3_320() {
        return Conv2d.conv(image, 2, 64, 64, 320, conv, 3, 3, 1, new int[]{1, 1, 1, 1}, null);
    }

    @Benchmark
    public float[] selfAttention4096() {
        return Attention.attend(q, q, q, 2, 4096, 4096, 8, 40, false);
    }

    @Benchmark
    public float[] groupNormSilu() {
        return Norms.groupNorm(image, 2, 4096, 320, 32, 1e-5f, gamma, beta, true);
    }

    /** The training backward of the same (image doubles as the upstream gradient). */
    @Benchmark
    public float[] groupNormSiluBackward() {
        return NormGrad.groupNorm(image, image, 2, 4096, 320, 32, 1e-5f, gamma, beta, true, true, new float[320], new float[320]);
    }
}
