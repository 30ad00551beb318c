package dev.edgediffuse.cli;

import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.tensor.Sizes;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.*;

/** What a hostile user tried on the command line and its input files: each is a quick one-line error. */
class HostileCliTest {
    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void tiny() throws IOException {
        model = TinyCheckpoints.write(dir).folder();
    }

    static GenerateCommandTest.Run generate(String... extra) {
        String[] base = {"generate", "--model", model.toString(), "--prompt", "a fox", "--steps", "2", "--quiet"};
        String[] all = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return assertTimeoutPreemptively(Duration.ofSeconds(60), () -> GenerateCommandTest.run(all));
    }

    static void assertOneLine(GenerateCommandTest.Run r, int code, String mention) {
        assertEquals(code, r.code(), r.err());
        assertTrue(r.err().contains(mention), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertFalse(r.err().contains("Exception"), r.err());
    }

    /** Sizes past the limit are refused before the model loads; they ran for minutes or ended in a stack trace. */
    @Test
    void oversizedImagesAreRefusedAtOnce() {
        long t0 = System.nanoTime();
        assertOneLine(generate("--width", "100000", "--height", "32", "--out", dir.resolve("w.png").toString()), 2,
                "--width must be a multiple of 8 in 8..2048, got 100000");
        assertOneLine(generate("--width", "100000", "--height", "100000", "--out", dir.resolve("wh.png").toString()), 2, "--width");
        assertOneLine(generate("--height", "4096", "--out", dir.resolve("h.png").toString()), 2, "--height");
        assertTrue((System.nanoTime() - t0) / 1e9 < 20, "refused before any work");
        var grid = GenerateCommandTest.run("grid", "--model", model.toString(), "--prompts", "a|b", "--seeds", "100000", "--zoom", "100",
                "--steps", "1", "--out", dir.resolve("g.png").toString());
        assertOneLine(grid, 1, "too large");
    }

    @Test
    void sizeProductsThatOverflowAreErrors() {
        assertEquals(12, Sizes.elements("x", 2, 2, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.elements("latents", 4, 100000, 100000));
        assertEquals("latents is too large (4x100000x100000 elements)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Sizes.elements("x", 65536, 65536, 65536, 65536, 4));
        assertThrows(IllegalArgumentException.class, () -> Sizes.elements("x", -1, 4));
    }

    /** .npy shapes whose product wraps around, or is negative, no longer size the array. */
    @Test
    void npyShapesThatOverflowAreRefused() throws IOException {
        for (String shape : new String[]{"(65536, 65536, 65536, 65536, 65536, 65536, 65536, 65537)", "(-1, 4)", "(4294967296,)", "(2147483647, 2)"}) {
            Path p = dir.resolve("bad.npy");
            String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
            ByteBuffer b = ByteBuffer.allocate(10 + dict.length() + 1 + 16).order(ByteOrder.LITTLE_ENDIAN);
            b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
            b.putShort((short) (dict.length() + 1)).put((dict + "\n").getBytes(StandardCharsets.US_ASCII));
            Files.write(p, b.array());
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> Npy.read(p), shape);
            assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
        }
    }

    /** A small PNG whose header claims 100000x100000 pixels is refused before its pixels are decoded. */
    @Test
    void aPngClaimingAHugeSizeIsRefusedBeforeDecoding() throws IOException {
        Path p = dir.resolve("bomb.png");
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        chunk(png, "IHDR", ByteBuffer.allocate(13).putInt(100_000).putInt(100_000).put(new byte[]{8, 2, 0, 0, 0}).array());
        chunk(png, "IDAT", new byte[]{0x78, (byte) 0x9c, 3, 0, 0, 0, 0, 1});
        chunk(png, "IEND", new byte[0]);
        Files.write(p, png.toByteArray());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Images.read(p, 2048));
        assertTrue(e.getMessage().contains("100000x100000") && e.getMessage().contains("2048x2048"), e.getMessage());
        assertOneLine(generate("--init-image", p.toString(), "--out", dir.resolve("i.png").toString()), 1, "100000x100000");
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        d.writeInt(data.length);
        d.write(type.getBytes(StandardCharsets.US_ASCII));
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(type.getBytes(StandardCharsets.US_ASCII));
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }

    /** An output that cannot be written fails before the generation, naming the reason. */
    @Test
    void outputsAreCheckedFirstAndFailuresNameTheReason() throws IOException {
        long t0 = System.nanoTime();
        GenerateCommandTest.Run r = generate("--out", "/proc/edgediffuse-test.png", "--width", "256", "--height", "256", "--steps", "150");
        assertOneLine(r, 1, "/proc/edgediffuse-test.png: cannot write (");
        assertTrue((System.nanoTime() - t0) / 1e9 < 30, "before 150 steps at 256x256");
        Path file = dir.resolve("a-file");
        Files.writeString(file, "x");
        assertOneLine(generate("--out", file.resolve("sub.png").toString()), 1, "cannot write (");
        assertOneLine(generate("--out", dir.toString() + "/"), 2, "--out must name a .png file");
        assertOneLine(generate("--out", dir.resolve("x.jpg").toString()), 2, "--out must name a .png file (PNG is the format written), got");
        assertFalse(Files.exists(dir.resolve("x.jpg")));
    }

    /** Outputs get the permissions any new file gets here (the umask), not 0600. */
    @Test
    void outputsRespectTheUmask() throws IOException {
        Path reference = Files.createFile(dir.resolve("reference-new-file"));
        Path png = dir.resolve("perm.png"), npy = dir.resolve("perm.npy");
        GenerateCommandTest.Run r = generate("--width", "64", "--height", "64", "--out", png.toString(), "--save-latents", npy.toString());
        assertEquals(0, r.code(), r.err());
        var expected = Files.getPosixFilePermissions(reference);
        assertEquals(expected, Files.getPosixFilePermissions(png));
        assertEquals(expected, Files.getPosixFilePermissions(npy));
    }

    @Test
    void aCfgBeyondAFloatIsReportedAsGiven() {
        GenerateCommandTest.Run r = generate("--cfg", "1e308", "--out", dir.resolve("c.png").toString());
        assertOneLine(r, 2, "--cfg must be a number in [0, 1000], got 1e308");
        assertFalse(r.err().contains("Infinity"), r.err());
        assertOneLine(generate("--cfg", "-1", "--out", dir.resolve("c.png").toString()), 2, "got -1");
    }

    /** A prompt's line breaks cannot forge the settings line other tools parse from the PNG. */
    @Test
    void promptLineBreaksAreEscapedInThePngParameters() throws IOException {
        Path png = dir.resolve("forge.png");
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model", model.toString(), "--prompt",
                "a fox\nSteps: 999, Sampler: forged, Seed: 1", "--negative-prompt", "x\r\nNegative prompt: y", "--steps", "2",
                "--width", "64", "--height", "64", "--out", png.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        String text = new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
        String params = text.substring(text.indexOf("parameters\0") + 11, text.indexOf("IDAT") - 8);
        assertEquals(3, params.lines().count(), params);
        assertTrue(params.startsWith("a fox\\nSteps: 999, Sampler: forged, Seed: 1\nNegative prompt: x\\r\\nNegative prompt: y\nSteps: 2,"), params);
    }
}
