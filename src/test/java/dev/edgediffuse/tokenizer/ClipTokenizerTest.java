package dev.edgediffuse.tokenizer;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Token ids against the standalone Python CLIP BPE in tools/goldens/clip.py; ids must match exactly. */
class ClipTokenizerTest {
    private static final String C = "clip";

    @SuppressWarnings("unchecked")
    private static Map<String, Object> prompts() throws IOException {
        return Json.parseObject(Files.readString(Goldens.dir(C).resolve("prompts.json")), "prompts.json");
    }

    private static int[] row(float[] table, int r) {
        int[] ids = new int[ClipTokenizer.MAX_LENGTH];
        for (int k = 0; k < ids.length; k++) ids[k] = (int) table[r * ids.length + k];
        return ids;
    }

    @Test
    void knownIdsForASimplePrompt() {
        ClipTokenizer t = ClipTokenizer.builtIn();
        assertArrayEquals(new int[]{320, 1125, 539, 320, 2368}, t.tokenize("a photo of a cat"));
        assertEquals(49406, t.bosId());
        assertEquals(49407, t.eosId());
        assertEquals(49407, t.padId());
    }

    @Test
    @SuppressWarnings("unchecked")
    void sd1IdsMatchPythonBpe() throws IOException {
        Map<String, Object> golden = prompts();
        List<Object> texts = (List<Object>) golden.get("prompts"), tokens = (List<Object>) golden.get("tokens");
        float[] padded = Goldens.load(C, "tokens_sd1").data();
        ClipTokenizer t = ClipTokenizer.builtIn();
        for (int p = 0; p < texts.size(); p++) {
            String prompt = (String) texts.get(p);
            int[] expected = ((List<Object>) tokens.get(p)).stream().mapToInt(o -> (int) (long) (Long) o).toArray();
            assertArrayEquals(expected, t.tokenize(prompt), "unpadded tokens of " + prompt);
            assertArrayEquals(row(padded, p), t.encode(prompt), "77 ids of " + prompt);
        }
    }

    @Test
    void truncationKeepsEosLast() {
        ClipTokenizer t = ClipTokenizer.builtIn();
        String prompt = "cat ".repeat(200);
        assertEquals(200, t.tokenize(prompt).length);
        int[] ids = t.encode(prompt);
        assertEquals(77, ids.length);
        assertEquals(49406, ids[0]);
        assertEquals(49407, ids[76]);
        assertEquals(2368, ids[75]);
    }

    @Test
    void emptyPromptIsBosEosPadding() {
        int[] ids = ClipTokenizer.builtIn().encode("");
        assertEquals(49406, ids[0]);
        for (int k = 1; k < 77; k++) assertEquals(49407, ids[k]);
    }

    @Test
    @SuppressWarnings("unchecked")
    void sd2PadTokenFromTokenizerDirectory(@TempDir Path dir) throws IOException {
        for (String f : new String[]{"vocab.json", "merges.txt"}) copyResource(f, dir.resolve(f));
        Files.writeString(dir.resolve("special_tokens_map.json"), "{\"pad_token\": \"!\", \"eos_token\": \"<|endoftext|>\"}");
        ClipTokenizer t = ClipTokenizer.load(dir);
        assertEquals(0, t.padId());
        List<Object> texts = (List<Object>) prompts().get("prompts");
        float[] padded = Goldens.load(C, "tokens_sd2").data();
        for (int p = 0; p < texts.size(); p++) {
            assertArrayEquals(row(padded, p), t.encode((String) texts.get(p)), "SD2 ids of " + texts.get(p));
        }
        // tokenizer_config.json's AddedToken form wins over the map
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"pad_token\": {\"content\": \"<|endoftext|>\"}}");
        assertEquals(49407, ClipTokenizer.load(dir).padId());
    }

    @Test
    void missingOrBadFilesNameTheFile(@TempDir Path dir) throws IOException {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(dir));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
        copyResource("vocab.json", dir.resolve("vocab.json"));
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\ni n\nbroken\n");
        e = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(dir));
        assertTrue(e.getMessage().contains("merges.txt") && e.getMessage().contains("line 3"), e.getMessage());
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\ni n\n");
        Files.writeString(dir.resolve("special_tokens_map.json"), "{\"pad_token\": \"<nope>\"}");
        e = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(dir));
        assertTrue(e.getMessage().contains("<nope>"), e.getMessage());
    }

    @Test
    void loadsInWellUnderASecond(@TempDir Path dir) throws IOException {
        for (String f : new String[]{"vocab.json", "merges.txt"}) copyResource(f, dir.resolve(f));
        ClipTokenizer.load(dir); // JIT warm-up
        long t0 = System.nanoTime();
        ClipTokenizer.load(dir).encode("a photo of a cat");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("tokenizer load (vocab.json + merges.txt) took " + ms + " ms");
        assertTrue(ms < 1000, "tokenizer load took " + ms + " ms");
    }

    private static void copyResource(String name, Path to) throws IOException {
        try (InputStream in = ClipTokenizer.class.getResourceAsStream("/dev/edgediffuse/tokenizer/" + name)) {
            Files.copy(in, to);
        }
    }
}
