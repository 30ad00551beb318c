package dev.edgediffuse.autograd;

import dev.edgediffuse.tensor.Buffers;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reverse-mode differentiation over the runtime's own layers. While a tape is active on a thread, every layer and
 * op records how to push its output's gradient back to its inputs; {@link #backward} then replays those steps in
 * reverse. Values are plain float arrays identified by reference: ops return fresh arrays while recording, so an
 * array is the output of at most one step. Parameters are the heap arrays the layers read their weights from.
 */
public final class Tape implements AutoCloseable {
    /** Pushes the gradient of one recorded output back to that step's inputs. */
    @FunctionalInterface
    public interface Backward {
        void run(Tape tape, float[] outputGrad);
    }

    private record Step(float[] output, Backward backward) {}

    private static final ThreadLocal<Tape> ACTIVE = new ThreadLocal<>();

    private final List<Step> steps = new ArrayList<>();
    private final Map<float[], float[]> grads = new IdentityHashMap<>();
    private final Set<float[]> tracked = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Set<float[]> parameters = Collections.newSetFromMap(new IdentityHashMap<>());

    private Tape() {}

    /** Starts recording on this thread; gradients will be kept for {@code trainable}. */
    public static Tape begin(Collection<float[]> trainable) {
        if (ACTIVE.get() != null) throw new IllegalStateException("a tape is already recording on this thread");
        Tape t = new Tape();
        t.tracked.addAll(trainable);
        t.parameters.addAll(trainable);
        ACTIVE.set(t);
        Buffers.setEnabled(false); // recorded values must stay distinct arrays
        return t;
    }

    /** The tape recording on this thread, or null (inference). */
    public static Tape active() {
        return ACTIVE.get();
    }

    /**
     * A scope in which this thread records nothing, for a model that only gives targets (a distillation teacher, an
     * EMA target network) while a student's tape records: its ops run the fused, in-place inference path and keep no
     * activations. Recording resumes when the scope closes. Does nothing when no tape records.
     */
    public static NoGradient noGradient() {
        Tape t = ACTIVE.get();
        if (t != null) {
            ACTIVE.remove();
            Buffers.setEnabled(true);
        }
        return new NoGradient(t);
    }

    /** The scope {@link #noGradient()} opens. */
    public static final class NoGradient implements AutoCloseable {
        private final Tape suspended;

        private NoGradient(Tape suspended) {
            this.suspended = suspended;
        }

        @Override
        public void close() {
            if (suspended == null) return;
            if (ACTIVE.get() != null) throw new IllegalStateException("a tape began inside a no-gradient scope and is still recording");
            Buffers.setEnabled(false);
            ACTIVE.set(suspended);
        }
    }

    /** Whether ops must not work in place because a tape may need their inputs later. */
    public static boolean recording() {
        return ACTIVE.get() != null;
    }

    /**
     * Records the step that produced {@code output} from {@code inputs}, if the active tape tracks any of them
     * (null inputs are ignored). Without a tape, or when nothing upstream needs a gradient, this does nothing.
     */
    public static void record(float[] output, Backward backward, float[]... inputs) {
        Tape t = ACTIVE.get();
        if (t == null) return;
        for (float[] in : inputs) {
            if (in != null && t.tracked.contains(in)) {
                t.tracked.add(output);
                t.steps.add(new Step(output, backward));
                return;
            }
        }
    }

    /** How many steps have been recorded and not yet replayed. */
    public int size() {
        return steps.size();
    }

    /** Whether a gradient should be computed for x (a trainable parameter, or downstream of one). */
    public boolean needs(float[] x) {
        return x != null && tracked.contains(x);
    }

    /** Adds dx into x's gradient, when x needs one; dx may be reused by the caller afterwards. */
    public void accumulate(float[] x, float[] dx) {
        if (!needs(x) || dx == null) return;
        float[] g = grads.get(x);
        if (g == null) {
            grads.put(x, dx.clone());
            return;
        }
        for (int i = 0; i < g.length; i++) g[i] += dx[i];
    }

    /**
     * As {@link #accumulate}, for a dx that was just computed for this call and that nobody else holds (a kernel's
     * result): the first one is kept as x's gradient without a copy.
     */
    public void accumulateFresh(float[] x, float[] dx) {
        if (!needs(x) || dx == null) return;
        float[] g = grads.get(x);
        if (g == null) {
            grads.put(x, dx);
            return;
        }
        for (int i = 0; i < g.length; i++) g[i] += dx[i];
    }

    /** The gradient of x accumulated so far, or null. */
    public float[] grad(float[] x) {
        return grads.get(x);
    }

    /** Seeds d(loss)/d(output) and runs the recorded steps in reverse; recording stops first. */
    public void backward(float[] output, float[] outputGrad) {
        close();
        accumulate(output, outputGrad);
        for (int i = steps.size() - 1; i >= 0; i--) {
            Step s = steps.get(i);
            float[] g = s.output == null ? null : grads.get(s.output);
            if (g == null) continue;
            s.backward.run(this, g);
            if (!parameters.contains(s.output)) grads.remove(s.output); // intermediate gradients are spent
            steps.set(i, null);
        }
        steps.clear();
    }

    /** Stops recording on this thread (gradients already computed stay readable). */
    @Override
    public void close() {
        if (ACTIVE.get() == this) {
            ACTIVE.remove();
            Buffers.setEnabled(true);
        }
    }
}
