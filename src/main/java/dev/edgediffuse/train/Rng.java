package dev.edgediffuse.train;

/**
 * A small random generator whose whole state is one long (SplitMix64), so a training checkpoint can store it and a
 * resumed run draws exactly the numbers the uninterrupted run would have drawn.
 */
public final class Rng {
    private long state;

    public Rng(long seed) {
        this.state = seed;
    }

    public long state() {
        return state;
    }

    public void setState(long s) {
        state = s;
    }

    public long nextLong() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1). */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    public int nextInt(int bound) {
        return (int) ((nextLong() >>> 33) % bound);
    }

    /** Standard normal (Box–Muller, one value per call so the state stays a single long). */
    public float nextGaussian() {
        double u = 1.0 - nextDouble(), v = nextDouble();
        return (float) (Math.sqrt(-2.0 * Math.log(u)) * Math.cos(2 * Math.PI * v));
    }

    /** A fresh permutation of [0, n). */
    public int[] permutation(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int) ((nextLong() >>> 1) % (i + 1));
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
