package dev.edgediffuse.scheduler;

import java.util.Arrays;

/** Bookkeeping shared by the schedulers: the timestep table, step order checks and the stateless state. */
abstract class BaseScheduler implements Scheduler {
    protected final String name;
    protected final NoiseSchedule schedule;
    protected final PredictionType prediction;
    protected float[] timesteps;
    protected int nextStep;

    BaseScheduler(String name, NoiseSchedule schedule) {
        this.name = name;
        this.schedule = schedule;
        this.prediction = schedule.prediction();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public NoiseSchedule schedule() {
        return schedule;
    }

    @Override
    public int numSteps() {
        requireTimesteps();
        return timesteps.length;
    }

    @Override
    public float[] timesteps() {
        requireTimesteps();
        return timesteps.clone();
    }

    @Override
    public float[] scaleModelInput(float[] latents, int stepIndex) {
        checkIndex(stepIndex);
        return latents.clone();
    }

    protected void requireTimesteps() {
        if (timesteps == null) throw new IllegalStateException(name + ": call setTimesteps before sampling");
    }

    protected void checkIndex(int stepIndex) {
        requireTimesteps();
        if (stepIndex < 0 || stepIndex >= timesteps.length) {
            throw new IndexOutOfBoundsException(name + ": step " + stepIndex + " of " + timesteps.length);
        }
    }

    protected static void checkSameLength(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("length mismatch: " + a.length + " vs " + b.length);
    }

    /** Asks the source for one noise buffer of length n. */
    protected static float[] draw(NoiseSource noise, int n, int stepIndex) {
        if (noise == null) noise = NoiseSource.none();
        float[] z = new float[n];
        noise.fill(z, stepIndex);
        return z;
    }

    @Override
    public SchedulerState state() {
        requireTimesteps();
        return new SchedulerState(name, timesteps.length, timesteps, nextStep, 0, new float[0][]);
    }

    @Override
    public void restore(SchedulerState state) {
        if (!state.scheduler().equals(name)) {
            throw new IllegalArgumentException("state of " + state.scheduler() + " cannot restore " + name);
        }
        float[] saved = state.timesteps();
        if (timesteps == null || !Arrays.equals(timesteps, saved)) setTimesteps(state.numSteps());
        if (!Arrays.equals(timesteps, saved)) {
            throw new IllegalStateException(name + ": the saved timesteps differ from this configuration's; call"
                    + " the same setTimesteps before restore");
        }
        nextStep = state.nextStep();
        restoreHistory(state);
    }

    protected void restoreHistory(SchedulerState state) {}
}
