package dev.edgediffuse.compress;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.tensor.Weight;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which model calibration data belongs to: SHA-256 over the UNet's and scheduler's configs, every UNet tensor's name,
 * format and shape, and 64 evenly spaced values of each (so a retrained model of the same architecture differs,
 * while hashing stays a matter of milliseconds on a multi-GB model). Hex, first 16 bytes.
 */
public final class ModelIdentity {
    private static final int SAMPLES = 64;

    private ModelIdentity() {}

    public static String of(Checkpoint cp) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        sha.update(Json.write(new TreeMap<>(cp.unet.config().values())).getBytes(StandardCharsets.UTF_8));
        sha.update(Json.write(new TreeMap<>(cp.schedulerConfig.values())).getBytes(StandardCharsets.UTF_8));
        for (Map.Entry<String, ModelTensor> e : new TreeMap<>(cp.unet.tensors()).entrySet()) {
            ModelTensor t = e.getValue();
            sha.update((e.getKey() + "|" + t.dtype().formatName() + "|" + java.util.Arrays.toString(t.shape()) + "\n").getBytes(StandardCharsets.UTF_8));
            Weight w = t.get();
            long n = w.size();
            for (int i = 0; i < SAMPLES && i < n; i++) {
                int bits = Float.floatToIntBits(w.get(n <= SAMPLES ? i : i * (n - 1) / (SAMPLES - 1)));
                sha.update(new byte[]{(byte) bits, (byte) (bits >> 8), (byte) (bits >> 16), (byte) (bits >> 24)});
            }
        }
        return HexFormat.of().formatHex(sha.digest(), 0, 16);
    }
}
