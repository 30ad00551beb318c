package dev.edgediffuse.kernels;

import jdk.incubator.vector.VectorShape;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorWidthTest {
    /** The kernels follow the JVM's width (CI's second pass caps it with -XX:MaxVectorSize=16 and says so). */
    @Test
    void kernelsUseTheWidthTheJvmOffers() {
        String forced = System.getProperty(VectorWidth.PROPERTY);
        int machine = Math.min(512, VectorShape.preferredShape().vectorBitSize());
        assertEquals(forced == null ? machine : Math.min(machine, Integer.parseInt(forced)), VectorWidth.bits());
        String expected = System.getProperty("edgediffuse.expectVectorBits");
        if (expected != null) assertEquals(Integer.parseInt(expected), VectorWidth.bits(), "the width this test run was asked to run at");
        assertEquals(VectorWidth.bits(), VectorWidth.FLOAT.vectorBitSize());
        assertEquals(0, Gemm.NR % VectorWidth.FLOAT.length(), "a packed panel is a whole number of vectors");
        assertEquals(0, VectorWidth.BLOCK % VectorWidth.BLOCK_FLOAT.length(), "a block is a whole number of vectors");
    }

    @Test
    void aForcedWidthIsUsedWhenTheMachineHasIt() {
        assertEquals(128, choose("128", 512).bits);
        assertEquals(256, choose(" 256 ", 256).bits);
        assertEquals(512, choose(null, 512).bits);
        assertEquals(512, choose(null, 2048).bits, "wider machines run the 512-bit kernels");
        assertEquals("", choose("256", 512).log);
    }

    @Test
    void unusableSettingsFallBackWithOneLine() {
        Choice tooWide = choose("512", 128);
        assertEquals(128, tooWide.bits);
        assertOneLine(tooWide.log, "wider than this machine's 128-bit vectors; using 128");
        Choice nonsense = choose("96", 256);
        assertEquals(256, nonsense.bits);
        assertOneLine(nonsense.log, "is not 128, 256 or 512");
        Choice capped = choose(null, 64);
        assertEquals(128, capped.bits, "below 128 bits the narrowest kernels run, emulated");
        assertOneLine(capped.log, "run emulated (slow)");
    }

    private record Choice(int bits, String log) {}

    private static Choice choose(String forced, int machine) {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        int bits = VectorWidth.choose(forced, machine, new PrintStream(log, true, StandardCharsets.UTF_8));
        return new Choice(bits, log.toString(StandardCharsets.UTF_8));
    }

    private static void assertOneLine(String log, String contains) {
        assertEquals(1, log.lines().count(), log);
        assertTrue(log.contains(contains), log);
    }
}
