package dev.edgediffuse.bench;

import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.kernels.Conv2d;
import dev.edgediffuse.kernels.Gemm;
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

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Weight packing per storage format (decode 16 rows a block at a time, then write the panel), single-threaded, at
 * SD1.5's largest conv (1280→1280, 3×3: 14.7 M weights), and a whole conv at 64² with packed weights of each format.
 * tools/jmh.sh PackBenchmarks
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx3g"})
public class PackBenchmarks {
    @Param({"F32", "F16", "Q8", "Q8_32", "Q4_32", "Q4_32Z"})
    public String dtype;

    WeightPanels big, conv;
    float[] image;

    @Setup
    public void setup() {
        Random r = new Random(1);
        big = new WeightPanels(weight(r, DType.valueOf(dtype), 1280, 1280, 3, 3));
        conv = new WeightPanels(weight(r, DType.valueOf(dtype), 320, 320, 3, 3));
        image = new float[2 * 64 * 64 * 320];
        for (int i = 0; i < image.length; i++) image[i] = r.nextFloat() - 0.5f;
    }

    static Weight weight(Random r, DType t, int... shape) {
        float[] v = new float[shape[0] * shape[1] * shape[2] * shape[3]];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian() * 0.02f;
        Weight f32 = Weight.ofFloats("w", v, shape);
        if (t == DType.F32) return f32;
        if (t.quantized()) return Quantizer.quantize(f32, t, Quantizer.Clip.ABSMAX);
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) h[i] = Float.floatToFloat16(v[i]);
        return new Weight("w", DType.F16, shape, java.lang.foreign.MemorySegment.ofArray(h));
    }

    @Benchmark
    public float[] pack1280x3x3() {
        return Gemm.pack(big);
    }

    @Benchmark
    public float[] conv3x3_320() {
        return Conv2d.conv(image, 2, 64, 64, 320, conv, 3, 3, 1, new int[]{1, 1, 1, 1}, null);
    }
}
