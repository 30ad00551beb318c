package dev.edgediffuse.format;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/** An 8-bit RGB PNG encoder that records text chunks (SD tools read the generation settings from "parameters"). */
public final class Png {
    private Png() {}

    /** rgb holds width*height*3 bytes, row-major. Written atomically. */
    public static void write(Path path, byte[] rgb, int width, int height, Map<String, String> text) throws IOException {
        AtomicFiles.write(path, encode(rgb, width, height, text));
    }

    /** The PNG file's bytes (for HTTP responses). */
    public static byte[] encode(byte[] rgb, int width, int height, Map<String, String> text) throws IOException {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        writeInt(ihdr, width);
        writeInt(ihdr, height);
        ihdr.write(new byte[]{8, 2, 0, 0, 0});
        chunk(png, "IHDR", ihdr.toByteArray());
        for (Map.Entry<String, String> e : text.entrySet()) {
            // tEXt is Latin-1; iTXt carries UTF-8 prompts unchanged
            ByteArrayOutputStream t = new ByteArrayOutputStream();
            t.write(e.getKey().getBytes(StandardCharsets.ISO_8859_1));
            t.write(new byte[]{0, 0, 0, 0, 0});
            t.write(e.getValue().getBytes(StandardCharsets.UTF_8));
            boolean latin1 = StandardCharsets.ISO_8859_1.newEncoder().canEncode(e.getValue());
            if (latin1) {
                ByteArrayOutputStream l = new ByteArrayOutputStream();
                l.write(e.getKey().getBytes(StandardCharsets.ISO_8859_1));
                l.write(0);
                l.write(e.getValue().getBytes(StandardCharsets.ISO_8859_1));
                chunk(png, "tEXt", l.toByteArray());
            } else {
                chunk(png, "iTXt", t.toByteArray());
            }
        }
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        try (DeflaterOutputStream z = new DeflaterOutputStream(raw, new Deflater(6))) {
            for (int y = 0; y < height; y++) {
                z.write(0);
                z.write(rgb, y * width * 3, width * 3);
            }
        }
        chunk(png, "IDAT", raw.toByteArray());
        chunk(png, "IEND", new byte[0]);
        return png.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        writeInt(out, data.length);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.write(t);
        out.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        writeInt(out, (int) crc.getValue());
    }

    private static void writeInt(ByteArrayOutputStream out, int v) {
        out.write(v >>> 24);
        out.write(v >>> 16);
        out.write(v >>> 8);
        out.write(v);
    }
}
