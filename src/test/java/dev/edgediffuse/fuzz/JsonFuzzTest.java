package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.train.Recipe;

import java.nio.file.Path;

/** JSON as configs, recipes and sampling defaults read it (requests: {@link RequestFuzzTest}). */
class JsonFuzzTest {
    /** Json.parse: a value, or a one-line IllegalArgumentException; what it parses writes and parses back the same. */
    @FuzzTest(maxDuration = "30s")
    void parse(String text) {
        if (text == null) return; // Jazzer's first input
        Contract.holds(() -> {
            Object v = Json.parse(text);
            String written = Json.write(v);
            if (!written.equals(Json.write(Json.parse(written)))) throw new AssertionError("not stable: " + written);
        }, IllegalArgumentException.class);
    }

    /** A config.json: read, then every typed getter a model uses on every key it has. */
    @FuzzTest(maxDuration = "30s")
    void config(String text) {
        if (text == null) return; // Jazzer's first input
        Contract.holds(() -> {
            Config c = Config.parse("config.json", text);
            for (String key : c.values().keySet()) {
                Contract.holds(() -> c.getInt(key), ModelFormatException.class);
                Contract.holds(() -> c.getDouble(key), ModelFormatException.class);
                Contract.holds(() -> c.getInts(key, 4), ModelFormatException.class);
                Contract.holds(() -> c.getDoubles(key), ModelFormatException.class);
                Contract.holds(() -> c.getStrings(key), ModelFormatException.class);
                Contract.holds(() -> c.getString(key, ""), ModelFormatException.class);
                Contract.holds(() -> c.getBool(key, false), ModelFormatException.class);
            }
            SamplingDefaults.parse(c);
        }, ModelFormatException.class, IllegalArgumentException.class);
    }

    /** A training recipe file. */
    @FuzzTest(maxDuration = "30s")
    void recipe(byte[] bytes) {
        if (bytes == null) return; // Jazzer's first input
        Path p = Contract.file(".json", bytes);
        try {
            Contract.holds(() -> Recipe.read(p), IllegalArgumentException.class, ModelFormatException.class);
        } finally {
            Contract.delete(p);
        }
    }
}
