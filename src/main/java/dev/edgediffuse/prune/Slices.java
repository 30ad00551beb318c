package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tensor.Weight;

/**
 * Tensors of a pruned model made from the teacher's, lazily (computed when read, as every {@link ModelTensor} of a
 * pass is): renamed, or with some rows (output units) or columns (input units) kept. Values keep the source's float
 * format, so a pruned f16 model stays f16 and holds exactly the teacher's numbers.
 */
final class Slices {
    private Slices() {}

    /** The same values under another name. */
    static ModelTensor renamed(ModelTensor t, String name) {
        return new ModelTensor(name, t.dtype(), t.shape(), () -> {
            Weight w = t.get();
            return new Weight(name, w.dtype(), w.shape(), w.data());
        });
    }

    /** Rows {@code keep} (indices along dimension 0, in order) of {@code t}: a layer's kept output units. */
    static ModelTensor rows(ModelTensor t, int[] keep) {
        int[] shape = t.shape();
        requireFloat(t);
        long inner = t.size() / shape[0];
        shape[0] = keep.length;
        return new ModelTensor(t.name(), t.dtype(), shape, () -> {
            float[] all = t.get().toFloats(), out = new float[(int) (keep.length * inner)];
            for (int r = 0; r < keep.length; r++) System.arraycopy(all, (int) (keep[r] * inner), out, (int) (r * inner), (int) inner);
            return Weight.of(t.name(), t.dtype(), out, shape);
        });
    }

    /** Columns {@code keep} (indices along dimension 1) of {@code t}: a layer's kept input units (a conv's input channels). */
    static ModelTensor cols(ModelTensor t, int[] keep) {
        int[] shape = t.shape();
        requireFloat(t);
        int rows = shape[0], cols = shape[1];
        int per = (int) (t.size() / rows / cols);
        shape[1] = keep.length;
        return new ModelTensor(t.name(), t.dtype(), shape, () -> {
            float[] all = t.get().toFloats(), out = new float[rows * keep.length * per];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < keep.length; c++) System.arraycopy(all, (r * cols + keep[c]) * per, out, (r * keep.length + c) * per, per);
            return Weight.of(t.name(), t.dtype(), out, shape);
        });
    }

    private static void requireFloat(ModelTensor t) {
        if (t.dtype().quantized()) {
            throw new ModelFormatException(t.name() + " is " + t.dtype().formatName() + ": prune float weights (f32, f16, bf16) and convert afterwards");
        }
    }

    /** Values of a float weight as f32 (a heap copy). */
    static float[] floats(ModelTensor t) {
        requireFloat(t);
        return t.get().toFloats();
    }
}
