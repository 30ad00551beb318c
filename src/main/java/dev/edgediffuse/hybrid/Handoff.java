package dev.edgediffuse.hybrid;

import dev.edgediffuse.model.vae.LatentScaling;
import dev.edgediffuse.scheduler.SchedulerState;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * What the server hands the device after the first {@code split} steps: enough to continue the same trajectory
 * exactly, and the latent space it lives in. Binary body (big-endian), version 2:
 * <pre>
 *   "EDHO" magic, u16 version = 2, u16 flags (bit 0: prompt embeddings present), i32 total body length
 *   UTF model, UTF nonce (echo of the request's)
 *   i64 seed, i32 width, i32 height, i32 total steps, i32 split, f32 cfg
 *   scheduler state (SchedulerState.write: name, timesteps, next step index, DPM++ history)
 *   i64 noise draws (Gaussians consumed from the seeded stream so far)
 *   i32 channels, i32 height, i32 width, f32[c·h·w] latents (channels-last)
 *   f32[c] shift, f32[c] factor: the server model's VAE map from its encoder's z to these latents ({@link LatentScaling})
 *   [flag 0] i32 rows, i32 tokens, i32 dim, f32[rows·tokens·dim] prompt embeddings ([uncond, cond])
 *   f64 server compute seconds
 *   u32 CRC-32C of every byte before it
 * </pre>
 */
public record Handoff(String model, String nonce, long seed, int width, int height, int totalSteps, int split, float cfg,
                      SchedulerState state, long noiseDraws, int[] latentShape, float[] latents, LatentScaling latentSpace,
                      int contextRows, int contextTokens, float[] context, double serverSeconds) {
    public static final String CONTENT_TYPE = "application/vnd.edgediffuse.handoff";
    static final int MAGIC = 0x4544484F; // "EDHO"
    static final int VERSION = 2;
    /** Refuse bodies claiming more than this (a 2048² request with embeddings is far below). */
    static final int MAX_BYTES = 256 << 20;

    /**
     * The most bytes an honest answer to a request with these latents, steps and prompt embeddings can have: the
     * latents, up to three scheduler history arrays of their size, the timestep table, the embeddings, and 4 KB for
     * names and fixed fields. The device reads no further.
     */
    public static long maxBytes(int[] latentShape, int steps, long contextFloats) {
        long latentFloats = (long) latentShape[0] * latentShape[1] * latentShape[2];
        return 4096 + 4L * (steps + 2) + 16 * latentFloats + 8L * latentShape[0] + 4 * contextFloats + 64;
    }

    public byte[] encode() {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + 4 * latents.length + (context == null ? 0 : 4 * context.length));
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(MAGIC);
            out.writeShort(VERSION);
            out.writeShort(context != null ? 1 : 0);
            out.writeInt(0); // length, patched below
            out.writeUTF(model);
            out.writeUTF(nonce);
            out.writeLong(seed);
            out.writeInt(width);
            out.writeInt(height);
            out.writeInt(totalSteps);
            out.writeInt(split);
            out.writeFloat(cfg);
            state.write(out);
            out.writeLong(noiseDraws);
            for (int d : latentShape) out.writeInt(d);
            writeFloats(out, latents);
            writeFloats(out, latentSpace.shift());
            writeFloats(out, latentSpace.factor());
            if (context != null) {
                out.writeInt(contextRows);
                out.writeInt(contextTokens);
                out.writeInt(context.length / (contextRows * contextTokens));
                writeFloats(out, context);
            }
            out.writeDouble(serverSeconds);
            out.flush();
            byte[] body = bytes.toByteArray();
            byte[] all = java.util.Arrays.copyOf(body, body.length + 4);
            ByteBuffer.wrap(all).putInt(8, all.length);
            CRC32C crc = new CRC32C();
            crc.update(all, 0, body.length);
            ByteBuffer.wrap(all).putInt(body.length, (int) crc.getValue());
            return all;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses and verifies a body; every problem is a {@link BadPayload} with a one-line reason. */
    public static Handoff decode(byte[] all) throws BadPayload {
        if (all.length < 16) throw new BadPayload("payload truncated (" + all.length + " bytes)");
        ByteBuffer head = ByteBuffer.wrap(all);
        if (head.getInt(0) != MAGIC) throw new BadPayload("not a handoff payload (bad magic)");
        int version = head.getShort(4) & 0xffff;
        if (version != VERSION) throw new BadPayload("unsupported handoff version " + version);
        int declared = head.getInt(8);
        if (declared != all.length) {
            throw new BadPayload("payload truncated or padded: " + all.length + " bytes, header says " + declared);
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if ((int) crc.getValue() != head.getInt(all.length - 4)) throw new BadPayload("payload checksum mismatch");
        boolean hasContext = (head.getShort(6) & 1) != 0;
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(all, 12, all.length - 16));
            String model = in.readUTF(), nonce = in.readUTF();
            long seed = in.readLong();
            int width = in.readInt(), height = in.readInt(), total = in.readInt(), split = in.readInt();
            float cfg = in.readFloat();
            SchedulerState state = SchedulerState.read(in, in.available());
            long draws = in.readLong();
            int[] shape = {in.readInt(), in.readInt(), in.readInt()};
            float[] latents = readFloats(in, (long) shape[0] * shape[1] * shape[2], all.length);
            LatentScaling space = new LatentScaling(readFloats(in, shape[0], all.length), readFloats(in, shape[0], all.length));
            int rows = 0, tokens = 0;
            float[] context = null;
            if (hasContext) {
                rows = in.readInt();
                tokens = in.readInt();
                int dim = in.readInt();
                context = readFloats(in, (long) rows * tokens * dim, all.length);
            }
            double server = in.readDouble();
            if (in.available() != 0) throw new BadPayload("payload has " + in.available() + " unexpected trailing bytes");
            return new Handoff(model, nonce, seed, width, height, total, split, cfg, state, draws, shape, latents, space, rows, tokens,
                    context, server);
        } catch (EOFException e) {
            throw new BadPayload("payload ends early");
        } catch (IOException | RuntimeException e) {
            throw new BadPayload("malformed payload: " + e.getMessage());
        }
    }

    private static void writeFloats(DataOutputStream out, float[] v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length);
        b.asFloatBuffer().put(v);
        out.write(b.array());
    }

    private static float[] readFloats(DataInputStream in, long count, int bodyLength) throws IOException, BadPayload {
        if (count < 0 || 4 * count > bodyLength) throw new BadPayload("payload declares " + count + " floats in " + bodyLength + " bytes");
        byte[] raw = new byte[(int) (4 * count)];
        in.readFully(raw);
        float[] v = new float[(int) count];
        ByteBuffer.wrap(raw).asFloatBuffer().get(v);
        return v;
    }

    /** A payload that failed verification. */
    public static final class BadPayload extends Exception {
        public BadPayload(String message) {
            super(message);
        }
    }
}
