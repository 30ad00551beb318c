package dev.edgediffuse.bench;

import dev.edgediffuse.kernels.Optimizer;
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

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One thread's AdamW update and gradient norm over 2^20 parameters, vectorized against the scalar loops they
 * replaced. {@code busy} = 1: every gradient is non-zero (UNet weights); 0: all zero with zero moments (unused
 * token-table rows, which only decay).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class OptimizerBenchmarks {
    private static final int N = 1 << 20;

    @Param({"1", "0"})
    public int busy;

    float[] w, g, m, v;
    Optimizer.AdamWStep step = new Optimizer.AdamWStep(1f, 0.9f, 0.999f, 1 - Math.pow(0.9, 100), 1 - Math.pow(0.999, 100), 1e-8f,
            6e-4, true, (float) 6e-4 * 0.01f);

    @Setup
    public void setup() {
        Random r = new Random(1);
        w = new float[N];
        g = new float[N];
        m = new float[N];
        v = new float[N];
        for (int i = 0; i < N; i++) {
            w[i] = (float) r.nextGaussian() * 0.05f;
            if (busy == 0) continue;
            g[i] = (float) r.nextGaussian() * 1e-3f;
            m[i] = g[i] * 0.5f;
            v[i] = g[i] * g[i];
        }
    }

    @Benchmark
    public float[] adamW() {
        Optimizer.adamW(w, g, m, v, 0, N, step);
        return w;
    }

    @Benchmark
    public float[] adamWScalar() {
        Optimizer.AdamWStep s = step;
        float oneMinusBeta1 = 1 - s.beta1(), oneMinusBeta2 = 1 - s.beta2();
        for (int i = 0; i < N; i++) {
            float gi = g[i] * s.clip();
            if (gi == 0 && m[i] == 0 && v[i] == 0) {
                w[i] -= s.lrDecay() * w[i];
                continue;
            }
            m[i] = s.beta1() * m[i] + oneMinusBeta1 * gi;
            v[i] = s.beta2() * v[i] + oneMinusBeta2 * gi * gi;
            double update = (m[i] / s.bc1()) / (Math.sqrt(v[i] / s.bc2()) + s.eps());
            w[i] -= s.lrDecay() * w[i];
            w[i] -= (float) (s.lr() * update);
        }
        return w;
    }

    @Benchmark
    public double sumOfSquares() {
        return Optimizer.sumOfSquares(g, 0);
    }

    @Benchmark
    public double sumOfSquaresScalar() {
        double sq = 0;
        for (float x : g) sq += (double) x * x;
        return sq;
    }
}
