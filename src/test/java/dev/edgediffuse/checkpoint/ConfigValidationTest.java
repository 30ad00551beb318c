package dev.edgediffuse.checkpoint;

import dev.edgediffuse.cli.Main;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.testing.Folders;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** Config values that read but cannot work are one-line errors when the model loads, naming the file and key. */
class ConfigValidationTest {
    @TempDir
    static Path dir;
    static Path good;
    static int copies;

    @BeforeAll
    static void tiny() throws IOException {
        good = dir.resolve("good");
        RandomCheckpoint.writeFolder(good, ModelConfigs.builtIn("tiny"), DType.F32, 3);
    }

    /** A copy of the tiny model with {@code component}/config.json changed by {@code edit}. */
    @SuppressWarnings("unchecked")
    static Path broken(String component, Consumer<Map<String, Object>> edit) throws IOException {
        Path m = Folders.copy(good, dir.resolve("broken-" + copies++));
        Path config = m.resolve(component).resolve("config.json");
        Map<String, Object> values = new LinkedHashMap<>((Map<String, Object>) Json.parse(Files.readString(config)));
        edit.accept(values);
        Files.writeString(config, Json.write(values));
        return m;
    }

    static String loadError(Path model) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Denoiser.load(model, Pipeline.Options.DEFAULT).close());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e.getMessage();
    }

    @Test
    void valuesThatCannotWorkAreNamedAtLoad() throws IOException {
        record Case(String component, String key, Object value, String mention) {}
        for (Case c : new Case[]{
                new Case("unet", "norm_num_groups", 0L, "must be at least 1"),
                new Case("unet", "norm_num_groups", 3L, "must divide every block_out_channels entry"),
                new Case("unet", "attention_head_dim", 0L, "at least 1"),
                new Case("unet", "attention_head_dim", 5L, "must divide block_out_channels"),
                new Case("unet", "layers_per_block", 1.5, "must be an integer"),
                new Case("unet", "in_channels", null, "missing key \"in_channels\""),
                new Case("unet", "cross_attention_dim", 0L, "at least 1"),
                new Case("vae", "norm_num_groups", 0L, "must be at least 1"),
                new Case("vae", "norm_num_groups", 3L, "must divide"),
                new Case("vae", "layers_per_block", 0L, "at least 1"),
                new Case("vae", "latent_channels", null, "missing key \"latent_channels\""),
                new Case("text_encoder", "num_attention_heads", 0L, "attention heads"),
                new Case("text_encoder", "intermediate_size", 2.5, "must be an integer")}) {
            Path m = broken(c.component, v -> {
                if (c.value == null) v.remove(c.key);
                else v.put(c.key, c.value);
            });
            String message = loadError(m);
            assertTrue(message.contains(c.component + "/config.json") && message.contains(c.key) && message.contains(c.mention),
                    c + ": " + message);
        }
    }

    /** serve refuses such a model at start (it used to answer /health "ok" and every request 500). */
    @Test
    void serveRefusesTheModelAtStart() throws IOException {
        Path m = broken("unet", v -> v.put("norm_num_groups", 0L));
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> Main.run(
                new String[]{"serve", "--model", "broken=" + m, "--no-auth", "--port", "0"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8)));
        String e = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, code, out + e);
        assertTrue(e.contains("norm_num_groups") && e.lines().count() == 1, e);
        assertFalse(out.toString(StandardCharsets.UTF_8).contains("listening"));
    }
}
