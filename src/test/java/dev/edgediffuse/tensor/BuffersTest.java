package dev.edgediffuse.tensor;

import dev.edgediffuse.autograd.Tape;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

class BuffersTest {
    @AfterEach
    void empty() {
        Buffers.clear();
    }

    @Test
    void anArrayGivenBackIsTakenAgainForTheSameSizeOnly() {
        float[] a = Buffers.take(1000);
        assertEquals(1000, a.length);
        Buffers.give(a);
        assertNotSame(a, Buffers.take(999), "another size gets a new array");
        assertSame(a, Buffers.take(1000));
        assertNotSame(a, Buffers.take(1000), "each given array is handed out once");
    }

    @Test
    void clearDropsThePool() {
        float[] a = Buffers.take(64);
        Buffers.give(a);
        Buffers.clear();
        assertNotSame(a, Buffers.take(64));
    }

    @Test
    void nothingIsReusedWhileATapeRecords() {
        float[] a = Buffers.take(64);
        Buffers.give(a);
        try (Tape t = Tape.begin(List.of())) {
            float[] b = Buffers.take(64);
            assertNotSame(a, b, "the pool is emptied when recording starts");
            Buffers.give(b);
            assertNotSame(b, Buffers.take(64), "recorded values stay distinct arrays");
        }
        float[] c = Buffers.take(64);
        Buffers.give(c);
        assertSame(c, Buffers.take(64), "reuse resumes once the tape is closed");
    }
}
