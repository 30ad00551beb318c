package dev.edgediffuse.train;

import java.util.ArrayList;
import java.util.List;

/**
 * The parameter arrays cut into runs of at most {@link #SIZE} elements, in name order: the work items of the
 * optimizer's and EMA's element-wise updates, so those spread over the threads (the largest array, the text
 * encoder's token table, alone holds a third of the Mini model's parameters).
 */
record Chunks(int[] arrays, int[] starts, int[] ends) {
    static final int SIZE = 1 << 15;

    static Chunks of(Parameters params) {
        List<int[]> runs = new ArrayList<>();
        List<float[]> arrays = params.arrays();
        for (int a = 0; a < arrays.size(); a++)
            for (int from = 0; from < arrays.get(a).length; from += SIZE)
                runs.add(new int[] {a, from, Math.min(arrays.get(a).length, from + SIZE)});
        int[] array = new int[runs.size()], start = new int[runs.size()], end = new int[runs.size()];
        for (int c = 0; c < runs.size(); c++) {
            array[c] = runs.get(c)[0];
            start[c] = runs.get(c)[1];
            end[c] = runs.get(c)[2];
        }
        return new Chunks(array, start, end);
    }

    int count() {
        return arrays.length;
    }

    int array(int chunk) {
        return arrays[chunk];
    }

    int from(int chunk) {
        return starts[chunk];
    }

    int to(int chunk) {
        return ends[chunk];
    }
}
