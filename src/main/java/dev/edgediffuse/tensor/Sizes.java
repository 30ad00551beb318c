package dev.edgediffuse.tensor;

/**
 * Element counts of arrays sized from outside input (image sizes, file headers, payloads), computed without
 * overflow: a product that does not fit a Java array is a one-line error naming what was asked for, never a
 * wrapped-around count that allocates too little or a NegativeArraySizeException.
 */
public final class Sizes {
    /** The largest array the JVM reliably allocates. */
    public static final int MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private Sizes() {}

    /** dims' product, which must be at most {@link #MAX_ELEMENTS}; each dim must be 0 or more. */
    public static int elements(String what, long... dims) {
        long n = 1;
        for (long d : dims) {
            if (d < 0) throw new IllegalArgumentException(what + " has a negative dimension " + d);
            if (d != 0 && n > MAX_ELEMENTS / d) n = Long.MAX_VALUE;
            else n *= d;
        }
        if (n > MAX_ELEMENTS) {
            StringBuilder s = new StringBuilder();
            for (long d : dims) s.append(s.isEmpty() ? "" : "x").append(d);
            throw new IllegalArgumentException(what + " is too large (" + s + " elements)");
        }
        return (int) n;
    }
}
