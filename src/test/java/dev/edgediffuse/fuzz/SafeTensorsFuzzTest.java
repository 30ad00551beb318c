package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.QuantizedTensors;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.tensor.Weight;

import java.nio.file.Path;

/** Safetensors headers and offsets, and the quantized-weight metadata inside them. */
class SafeTensorsFuzzTest {
    /** Any bytes as a .safetensors file: opened, every tensor's first and last value read, closed. */
    @FuzzTest(maxDuration = "30s")
    void file(byte[] bytes) {
        if (bytes == null) return; // Jazzer's first input
        Path p = Contract.file(".safetensors", bytes);
        try {
            Contract.holds(() -> {
                try (SafeTensors st = SafeTensors.open(p)) {
                    for (Weight w : st.tensors().values()) {
                        if (w.size() > 0 && w.size() < (1 << 16)) w.toFloats();
                    }
                }
            }, ModelFormatException.class);
        } finally {
            Contract.delete(p);
        }
    }

    /**
     * A quantized weight written the way the converter writes one, its parts' dtypes, shapes and sizes and the
     * metadata describing it chosen by the fuzzer: every inconsistency is a one-line error, a consistent one a weight.
     */
    @FuzzTest(maxDuration = "30s")
    void quantizedMetadata(FuzzedDataProvider data) {
        String[] dtypes = {"I8", "U8", "F16", "F32", "BF16", "I64"};
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (String part : new String[]{"w", "w.scales", "w.zeros"}) {
            if (!data.consumeBoolean()) continue;
            int rank = data.consumeInt(0, 3);
            int[] shape = new int[rank];
            long bytes = 1;
            for (int k = 0; k < rank; k++) {
                shape[k] = data.consumeInt(0, 300);
                bytes *= shape[k];
            }
            int width = data.consumeInt(1, 4);
            long n = Math.min(bytes * width, 1 << 20);
            w.addRaw(part, data.pickValue(dtypes), shape, n, o -> o.write(new byte[(int) n]));
        }
        w.metadata(QuantizedTensors.WEIGHTS_KEY, data.consumeString(400));
        if (data.consumeBoolean()) w.metadata(QuantizedTensors.VERSION_KEY, data.consumeString(4));
        Path p = Contract.file(".safetensors", new byte[0]);
        try {
            Contract.holds(() -> {
                w.write(p);
                try (SafeTensors st = SafeTensors.open(p)) {
                    for (Weight weight : st.tensors().values()) {
                        if (weight.size() < (1 << 16)) weight.toFloats();
                    }
                }
            }, ModelFormatException.class);
        } finally {
            Contract.delete(p);
        }
    }
}
