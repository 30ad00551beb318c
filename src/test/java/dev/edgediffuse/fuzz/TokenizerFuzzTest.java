package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Tokenizer files (a model folder's vocab.json and merges.txt) and prompts through the built-in tokenizer. */
class TokenizerFuzzTest {
    private static final ClipTokenizer BUILT_IN = ClipTokenizer.builtIn();

    /** Any prompt: 77 ids, each in the vocabulary. */
    @FuzzTest(maxDuration = "30s")
    void prompt(String text) {
        if (text == null) return; // Jazzer's first input
        int[] ids = BUILT_IN.encode(text);
        if (ids.length != ClipTokenizer.MAX_LENGTH) throw new AssertionError(ids.length + " ids");
        for (int id : ids) if (id < 0 || id >= 49408) throw new AssertionError("id " + id);
    }

    /** A tokenizer folder with fuzzed vocab.json and merges.txt, then a fuzzed prompt through it. */
    @FuzzTest(maxDuration = "30s")
    void files(FuzzedDataProvider data) {
        Path dir;
        try {
            dir = Files.createTempDirectory("edgediffuse-fuzz-tok");
            Files.writeString(dir.resolve("vocab.json"), data.consumeString(2000), StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("merges.txt"), data.consumeString(2000), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String prompt = data.consumeRemainingAsString();
        try {
            Contract.holds(() -> ClipTokenizer.load(dir).encode(prompt), ModelFormatException.class);
        } finally {
            Contract.delete(dir.resolve("vocab.json"));
            Contract.delete(dir.resolve("merges.txt"));
            Contract.delete(dir);
        }
    }
}
