package dev.edgediffuse.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
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
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": file not found");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read (" + e.getMessage() + ")");
        }
        if (bytes.length < 10 || bytes[0] != (byte) 0x93 || bytes[1] != 'N' || bytes[2] != 'U') {
            throw new ModelFormatException(path + ": not a .npy file");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int major = bytes[6];
        int headerLen = major == 1 ? Short.toUnsignedInt(b.getShort(8)) : b.getInt(8);
        int dataStart = (major == 1 ? 10 : 12) + headerLen;
        if (dataStart > bytes.length) throw new ModelFormatException(path + ": truncated .npy header");
        String header = new String(bytes, major == 1 ? 10 : 12, headerLen, StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header), o = ORDER.matcher(header), s = SHAPE.matcher(header);
        if (!d.find() || !o.find() || !s.find()) throw new ModelFormatException(path + ": malformed .npy header");
        if (o.group(1).equals("True")) throw new ModelFormatException(path + ": Fortran-order arrays are not supported");
        String[] dims = s.group(1).split(",");
        int rank = 0;
        for (String dim : dims) if (!dim.isBlank()) rank++;
        int[] shape = new int[rank];
        long count = 1;
        int r = 0;
        for (String dim : dims) {
            if (dim.isBlank()) continue;
            shape[r] = Integer.parseInt(dim.trim());
            count *= shape[r++];
        }
        String descr = d.group(1);
        int width = switch (descr) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            default -> throw new ModelFormatException(path + ": unsupported .npy dtype " + descr);
        };
        if (dataStart + count * width > bytes.length) {
            throw new ModelFormatException(path + ": truncated .npy data (" + (bytes.length - dataStart) + " bytes, need " + count * width + ")");
        }
        float[] out = new float[(int) count];
        for (int k = 0; k < count; k++) {
            int at = dataStart + k * width;
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
}
