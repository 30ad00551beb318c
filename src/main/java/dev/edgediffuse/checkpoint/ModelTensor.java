package dev.edgediffuse.checkpoint;

import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.util.Arrays;
import java.util.function.Supplier;

/**
 * One tensor of an in-memory model: its format and shape are known up front, its values are produced when read — a
 * mapped file's weight as it is, or what a pass computes from it. A model written to disk reads each tensor once, as
 * the writer reaches it, so converting a multi-GB checkpoint holds about one tensor's worth of values at a time.
 */
public record ModelTensor(String name, DType dtype, int[] shape, Supplier<Weight> source) {
    public ModelTensor {
        shape = shape.clone();
    }

    /** A tensor whose values are already there (a mapped weight, a heap array). */
    public static ModelTensor of(Weight w) {
        return new ModelTensor(w.name(), w.dtype(), w.shape(), () -> w);
    }

    /** The values (computed again on every call for a pass's output; callers that need them twice keep them). */
    public Weight get() {
        Weight w = source.get();
        if (w.dtype() != dtype || !Arrays.equals(w.shape(), shape)) {
            throw new IllegalStateException(name + ": produced " + w.dtype().formatName() + " " + w.shapeString() + ", declared "
                    + dtype.formatName() + " " + Arrays.toString(shape));
        }
        return w;
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    public long size() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
