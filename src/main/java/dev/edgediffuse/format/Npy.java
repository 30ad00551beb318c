package dev.edgediffuse.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import dev.edgediffuse.tensor.Sizes;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy .npy arrays (little-endian float32/float64/int32/int64, C order), read into and written from float[]. */
public final class Npy {
    public record Array(int[] shape, float[] data) {
        public long size() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern ORDER = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    public static Array read(Path path) {
        byte[] bytes;
        try {
            if (Files.size(path) > Sizes.MAX_ELEMENTS) throw new ModelFormatException(path + ": .npy file larger than 2 GB");
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": file not found");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read (" + e.getMessage() + ")");
        }
        return parse(path.toString(), bytes);
    }

    /** The array a .npy file's bytes hold; {@code path} names it in errors. */
    public static Array parse(String path, byte[] bytes) {
        if (bytes.length < 12 || bytes[0] != (byte) 0x93 || !new String(bytes, 1, 5, StandardCharsets.ISO_8859_1).equals("NUMPY")) {
            throw new ModelFormatException(path + ": not a .npy file");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int major = bytes[6];
        if (major < 1 || major > 3) throw new ModelFormatException(path + ": unsupported .npy version " + major);
        long headerLen = major == 1 ? Short.toUnsignedInt(b.getShort(8)) : Integer.toUnsignedLong(b.getInt(8));
        long dataStart = (major == 1 ? 10 : 12) + headerLen;
        if (dataStart > bytes.length) throw new ModelFormatException(path + ": truncated .npy header");
        String header = new String(bytes, major == 1 ? 10 : 12, (int) headerLen, StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header), o = ORDER.matcher(header), s = SHAPE.matcher(header);
        if (!d.find() || !o.find() || !s.find()) throw new ModelFormatException(path + ": malformed .npy header");
        if (o.group(1).equals("True")) throw new ModelFormatException(path + ": Fortran-order arrays are not supported");
        String[] dims = s.group(1).split(",", -1);
        int rank = 0;
        for (String dim : dims) if (!dim.isBlank()) rank++;
        if (rank > 8) throw new ModelFormatException(path + ": .npy array of " + rank + " dimensions");
        int[] shape = new int[rank];
        long[] sizes = new long[rank];
        int r = 0;
        for (String dim : dims) {
            if (dim.isBlank()) continue;
            try {
                shape[r] = Integer.parseInt(dim.trim());
            } catch (NumberFormatException e) {
                throw new ModelFormatException(path + ": bad .npy shape entry '" + printable(dim.trim()) + "'");
            }
            if (shape[r] < 0) throw new ModelFormatException(path + ": bad .npy shape entry " + shape[r]);
            sizes[r] = shape[r++];
        }
        int count;
        try {
            count = Sizes.elements(path + ": .npy array", sizes);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(e.getMessage());
        }
        String descr = d.group(1);
        int width = switch (descr) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            default -> throw new ModelFormatException(path + ": unsupported .npy dtype " + printable(descr));
        };
        if (dataStart + (long) count * width != bytes.length) {
            throw new ModelFormatException(path + ": .npy data has " + (bytes.length - dataStart) + " bytes, its shape needs "
                    + (long) count * width + (dataStart + (long) count * width > bytes.length ? " (truncated)" : ""));
        }
        float[] out = new float[count];
        for (int k = 0; k < count; k++) {
            int at = (int) dataStart + k * width;
            out[k] = switch (descr) {
                case "<f4" -> b.getFloat(at);
                case "<i4" -> b.getInt(at);
                case "<f8" -> (float) b.getDouble(at);
                default -> b.getLong(at);
            };
        }
        return new Array(shape, out);
    }

    /** Writes float32 data atomically. */
    public static void write(Path path, float[] data, int... shape) throws IOException {
        StringBuilder sh = new StringBuilder();
        for (int k = 0; k < shape.length; k++) sh.append(shape[k]).append(shape.length == 1 || k < shape.length - 1 ? "," : "");
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + sh + "), }";
        int total = 10 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        for (float v : data) b.putFloat(v);
        AtomicFiles.write(path, b.array());
    }

    /** A header fragment for a one-line message: control characters shown as '?', at most 40 characters. */
    private static String printable(String text) {
        String t = text.replaceAll("\\p{Cntrl}", "?");
        return t.length() > 40 ? t.substring(0, 40) + "..." : t;
    }
}
