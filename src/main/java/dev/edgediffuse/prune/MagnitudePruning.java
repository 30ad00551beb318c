package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.tensor.Weight;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Unstructured magnitude pruning, as the founding document's edge pipeline prunes ~10% of the weights: in every
 * convolution and linear weight of the UNet (tensors of two or more dimensions), the given share of entries of
 * smallest magnitude is set to zero (exactly floor(share·n) of them, ties broken by position). Shapes, formats and so
 * the stored size stay as they are: a dense file holds a zero in as many bytes as any other value.
 */
public final class MagnitudePruning {
    private MagnitudePruning() {}

    public static Checkpoint apply(Checkpoint model, double share) {
        if (!(share > 0 && share < 1)) throw new IllegalArgumentException("magnitude pruning share " + share + " is outside (0, 1)");
        Component unet = model.unet;
        Map<String, ModelTensor> out = new LinkedHashMap<>();
        unet.tensors().forEach((name, t) -> out.put(name, t.shape().length >= 2 ? zeroSmallest(t, share) : t));
        return model.withUnet(unet.withTensors(out, "magnitude pruning (" + share + ") of " + unet.source()));
    }

    /** How many entries {@link #apply} zeroes in a tensor of {@code n} values. */
    public static long zeroed(long n, double share) {
        return (long) Math.floor(share * n);
    }

    private static ModelTensor zeroSmallest(ModelTensor t, double share) {
        return new ModelTensor(t.name(), t.dtype(), t.shape(), () -> {
            float[] v = Slices.floats(t);
            int k = (int) zeroed(v.length, share);
            // sort positions by (|value|, position) and zero the first k
            long[] keys = new long[v.length];
            for (int i = 0; i < v.length; i++) keys[i] = ((long) Float.floatToRawIntBits(Math.abs(v[i])) << 32) | i;
            Arrays.sort(keys);
            for (int j = 0; j < k; j++) v[(int) keys[j]] = 0f;
            return Weight.of(t.name(), t.dtype(), v, t.shape());
        });
    }
}
