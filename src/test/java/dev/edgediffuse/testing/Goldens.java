package dev.edgediffuse.testing;

import dev.edgediffuse.format.Npy;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loads the PyTorch goldens under src/test/resources/goldens and compares results against them. */
public final class Goldens {
    private Goldens() {}

    public static Path dir(String component) {
        URL url = Goldens.class.getResource("/goldens/" + component);
        if (url == null) throw new AssertionError("no goldens for " + component + " (run tools/goldens/*.py)");
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new AssertionError(e);
        }
    }

    public static Npy.Array load(String component, String name) {
        return Npy.read(dir(component).resolve(name + ".npy"));
    }

    /** Asserts max |actual − expected| ≤ tol; returns the max abs error. */
    public static double assertClose(String what, float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double max = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs((double) expected[i] - actual[i]);
            if (!(d <= max)) { max = d; at = i; }
        }
        double worst = max;
        int idx = at;
        assertTrue(worst <= tol, () -> what + ": max abs error " + worst + " > " + tol + " at index " + idx
                + " (expected " + expected[idx] + ", got " + actual[idx] + ")");
        return max;
    }

    /** ‖actual − expected‖∞ / ‖expected‖∞. */
    public static double relError(float[] expected, float[] actual) {
        double max = 0, scale = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs((double) expected[i] - actual[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        return max / Math.max(scale, 1e-30);
    }

    /** Asserts ‖actual − expected‖∞ / ‖expected‖∞ ≤ tol; returns the relative error. */
    public static double assertRelClose(String what, float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double rel = relError(expected, actual);
        assertTrue(Double.isFinite(rel) && rel <= tol, what + ": relative error " + rel + " > " + tol);
        return rel;
    }

    public static void assertShape(String what, int[] expected, int[] actual) {
        assertArrayEquals(expected, actual, what + ": shape");
    }
}
