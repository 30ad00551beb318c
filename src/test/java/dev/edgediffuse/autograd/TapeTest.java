package dev.edgediffuse.autograd;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/** How the tape keeps gradients: a caller's array is copied, a fresh kernel result is kept as it is, later ones add. */
class TapeTest {
    @Test
    void accumulateCopiesAndAccumulateFreshKeepsTheFirstArray() {
        float[] p = new float[3], q = new float[3], untracked = new float[3];
        try (Tape t = Tape.begin(List.of(p, q))) {
            float[] dp = {1, 2, 3};
            t.accumulate(p, dp);
            assertNotSame(dp, t.grad(p), "the caller may reuse its array, so the tape copies it");
            dp[0] = 100;
            assertArrayEquals(new float[]{1, 2, 3}, t.grad(p));

            float[] dq = {1, 2, 3};
            t.accumulateFresh(q, dq);
            assertSame(dq, t.grad(q), "a fresh result is kept without a copy");
            t.accumulateFresh(q, new float[]{10, 20, 30});
            t.accumulate(q, new float[]{100, 200, 300});
            assertArrayEquals(new float[]{111, 222, 333}, t.grad(q));

            t.accumulateFresh(untracked, new float[]{1, 1, 1});
            assertNull(t.grad(untracked), "an array the tape does not track gets no gradient");
        }
    }
}
