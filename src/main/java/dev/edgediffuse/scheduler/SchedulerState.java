package dev.edgediffuse.scheduler;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.Arrays;

/**
 * What a scheduler carries from one step to the next, enough to continue a run elsewhere: the timestep table it was
 * set to, the index of the next step, and (DPM-Solver++ only) how many steps have fed its history plus the previous
 * converted model outputs, oldest first. Arrays are copies; the record never aliases scheduler internals.
 */
public record SchedulerState(String scheduler, int numSteps, float[] timesteps, int nextStep, int lowerOrderNums,
                             float[][] history) {
    private static final int MAGIC = 0x45445353; // "EDSS"

    public SchedulerState {
        timesteps = timesteps.clone();
        history = deepCopy(history);
    }

    @Override
    public float[] timesteps() {
        return timesteps.clone();
    }

    @Override
    public float[][] history() {
        return deepCopy(history);
    }

    public void write(DataOutput out) throws IOException {
        out.writeInt(MAGIC);
        out.writeUTF(scheduler);
        out.writeInt(numSteps);
        writeFloats(out, timesteps);
        out.writeInt(nextStep);
        out.writeInt(lowerOrderNums);
        out.writeInt(history.length);
        for (float[] h : history) writeFloats(out, h);
    }

    public static SchedulerState read(DataInput in) throws IOException {
        return read(in, Long.MAX_VALUE);
    }

    /**
     * Reads what {@link #write} wrote, where at most {@code maxBytes} remain in the input: every array length is
     * checked against what is left before it is allocated, so a corrupt or hostile count cannot size an allocation.
     */
    public static SchedulerState read(DataInput in, long maxBytes) throws IOException {
        long[] left = {maxBytes};
        if (in.readInt() != MAGIC) throw new IOException("not a serialized scheduler state");
        String name = in.readUTF();
        int steps = in.readInt();
        float[] ts = readFloats(in, left);
        int next = in.readInt();
        int lower = in.readInt();
        int count = in.readInt();
        if (count < 0 || count > left[0] / 4) throw new IOException("scheduler state claims " + count + " history entries");
        float[][] hist = new float[count][];
        for (int k = 0; k < hist.length; k++) hist[k] = readFloats(in, left);
        if (ts == null) throw new IOException("scheduler state has no timesteps");
        return new SchedulerState(name, steps, ts, next, lower, hist);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SchedulerState s && scheduler.equals(s.scheduler) && numSteps == s.numSteps
                && Arrays.equals(timesteps, s.timesteps) && nextStep == s.nextStep
                && lowerOrderNums == s.lowerOrderNums && Arrays.deepEquals(history, s.history);
    }

    @Override
    public int hashCode() {
        return scheduler.hashCode() * 31 + nextStep;
    }

    @Override
    public String toString() {
        return "SchedulerState[" + scheduler + ", steps=" + numSteps + ", next=" + nextStep + ", lowerOrderNums="
                + lowerOrderNums + ", history=" + history.length + "]";
    }

    private static float[][] deepCopy(float[][] a) {
        float[][] c = new float[a.length][];
        for (int k = 0; k < a.length; k++) c[k] = a[k] == null ? null : a[k].clone();
        return c;
    }

    private static void writeFloats(DataOutput out, float[] a) throws IOException {
        out.writeInt(a == null ? -1 : a.length);
        if (a != null) for (float v : a) out.writeFloat(v);
    }

    private static float[] readFloats(DataInput in, long[] left) throws IOException {
        int n = in.readInt();
        if (n < 0) return null;
        if (n > left[0] / 4) throw new IOException("scheduler state claims " + n + " values in " + left[0] + " bytes");
        left[0] -= 4L * n;
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = in.readFloat();
        return a;
    }
}
