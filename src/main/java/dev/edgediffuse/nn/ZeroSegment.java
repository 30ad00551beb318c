package dev.edgediffuse.nn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** One shared, growing block of zeros that recorded (fabricated) weights are views of. */
final class ZeroSegment {
    private static MemorySegment zeros = MemorySegment.NULL;

    private ZeroSegment() {}

    static synchronized MemorySegment of(long bytes) {
        if (zeros.byteSize() < bytes) zeros = Arena.ofAuto().allocate(Math.max(bytes, 1 << 20), 64);
        return zeros.asSlice(0, bytes);
    }
}
