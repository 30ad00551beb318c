package dev.edgediffuse.compress;

import dev.edgediffuse.format.AtomicFiles;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A calibration run's checkpoint: the batches done, every layer's accumulators as they are (double sums, not the
 * divided figures the output stores, so a resumed run adds the next batch to the very same numbers) and the UNet calls
 * kept so far. Written atomically every so often; a run that finds one made by the same model, settings and prompts
 * continues after its last batch and writes the same file bit for bit; any other is ignored and the run starts over.
 */
final class CalibrationState {
    private static final String MAGIC = "edgediffuse-calibration-state/1";

    private CalibrationState() {}

    /** What the state belongs to: the model's identity, the settings and the prompts. */
    static String fingerprint(String identity, Calibration.Settings settings, List<String> prompts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update((identity + "\n" + settings + "\n").getBytes(StandardCharsets.UTF_8));
            for (String p : prompts) md.update((p.length() + ":" + p + "\n").getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static void save(Path state, String fingerprint, int nextPrompt, long done, Map<String, InputStatistics> layers, Calibration.Kept kept)
            throws IOException {
        Path tmp = AtomicFiles.createSibling(state);
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16))) {
            out.writeUTF(MAGIC);
            out.writeUTF(fingerprint);
            out.writeInt(nextPrompt);
            out.writeLong(done);
            out.writeInt(layers.size());
            for (InputStatistics s : layers.values()) {
                out.writeUTF(s.path);
                out.writeLong(s.values);
                out.writeLong(s.rows);
                out.writeFloat(s.min);
                out.writeFloat(s.max);
                floats(out, s.absMax);
                doubles(out, s.sqSum);
                boolean allocated = s.hessian.length > 0 && s.hessian[0] != null;
                out.writeBoolean(allocated);
                if (allocated) for (double[] h : s.hessian) doubles(out, h);
            }
            out.writeInt(kept.h);
            out.writeInt(kept.w);
            out.writeInt(kept.c);
            out.writeInt(kept.tokens);
            out.writeInt(kept.dim);
            out.writeInt(kept.timesteps.size());
            for (int i = 0; i < kept.timesteps.size(); i++) {
                out.writeFloat(kept.timesteps.get(i));
                out.writeInt(kept.latents.get(i).length);
                floats(out, kept.latents.get(i));
                out.writeInt(kept.context.get(i).length);
                floats(out, kept.context.get(i));
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, state, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Restores {@code state} into {@code layers} and {@code kept} when it belongs to this run; returns the first prompt
     * still to do and the steps done ({@code {0, 0}} when there is no usable state).
     */
    static long[] load(Path state, String fingerprint, Map<String, InputStatistics> layers, Calibration.Kept kept) throws IOException {
        if (state == null || !Files.isRegularFile(state)) return new long[]{0, 0};
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(state), 1 << 16))) {
            if (!in.readUTF().equals(MAGIC) || !in.readUTF().equals(fingerprint)) return new long[]{0, 0};
            int nextPrompt = in.readInt();
            long done = in.readLong();
            if (in.readInt() != layers.size()) return new long[]{0, 0};
            for (InputStatistics s : layers.values()) {
                if (!in.readUTF().equals(s.path)) throw new IOException("its layers are not this model's");
                s.values = in.readLong();
                s.rows = in.readLong();
                s.min = in.readFloat();
                s.max = in.readFloat();
                readFloats(in, s.absMax);
                readDoubles(in, s.sqSum);
                if (in.readBoolean()) {
                    for (int b = 0; b < s.hessian.length; b++) {
                        s.hessian[b] = new double[s.blockLength(b) * s.blockLength(b)];
                        readDoubles(in, s.hessian[b]);
                    }
                }
            }
            kept.h = in.readInt();
            kept.w = in.readInt();
            kept.c = in.readInt();
            kept.tokens = in.readInt();
            kept.dim = in.readInt();
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                kept.timesteps.add(in.readFloat());
                float[] l = new float[in.readInt()];
                readFloats(in, l);
                kept.latents.add(l);
                float[] c = new float[in.readInt()];
                readFloats(in, c);
                kept.context.add(c);
            }
            return new long[]{nextPrompt, done};
        } catch (EOFException e) {
            throw new IOException(state + ": this calibration checkpoint is truncated; delete it to start over");
        } catch (IOException e) {
            throw new IOException(state + ": cannot read this calibration checkpoint (" + e.getMessage() + "); delete it to start over", e);
        }
    }

    private static void floats(DataOutputStream out, float[] v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 * 8192).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i += 8192) {
            int n = Math.min(8192, v.length - i);
            b.clear();
            b.asFloatBuffer().put(v, i, n);
            out.write(b.array(), 0, 4 * n);
        }
    }

    private static void doubles(DataOutputStream out, double[] v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 * 8192).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i += 8192) {
            int n = Math.min(8192, v.length - i);
            b.clear();
            b.asDoubleBuffer().put(v, i, n);
            out.write(b.array(), 0, 8 * n);
        }
    }

    private static void readFloats(DataInputStream in, float[] v) throws IOException {
        byte[] buf = new byte[4 * 8192];
        for (int i = 0; i < v.length; i += 8192) {
            int n = Math.min(8192, v.length - i);
            in.readFully(buf, 0, 4 * n);
            ByteBuffer.wrap(buf, 0, 4 * n).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v, i, n);
        }
    }

    private static void readDoubles(DataInputStream in, double[] v) throws IOException {
        byte[] buf = new byte[8 * 8192];
        for (int i = 0; i < v.length; i += 8192) {
            int n = Math.min(8192, v.length - i);
            in.readFully(buf, 0, 8 * n);
            ByteBuffer.wrap(buf, 0, 8 * n).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(v, i, n);
        }
    }
}
