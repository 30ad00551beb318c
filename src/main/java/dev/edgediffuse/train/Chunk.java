package dev.edgediffuse.train;

import java.util.ArrayList;
import java.util.List;

/**
 * A run [from, to) of one parameter array (its index in name order): the work item of the optimizer's and EMA's
 * element-wise updates, so those spread over the threads (the text encoder's token table alone holds a third of the
 * Mini model's parameters).
 */
record Chunk(int array, int from, int to) {
    static final int SIZE = 1 << 15;

    /** Every parameter array cut into runs of at most {@link #SIZE} elements. */
    static List<Chunk> split(Parameters params) {
        List<Chunk> chunks = new ArrayList<>();
        List<float[]> arrays = params.arrays();
        for (int a = 0; a < arrays.size(); a++)
            for (int from = 0; from < arrays.get(a).length; from += SIZE)
                chunks.add(new Chunk(a, from, Math.min(arrays.get(a).length, from + SIZE)));
        return List.copyOf(chunks);
    }
}
