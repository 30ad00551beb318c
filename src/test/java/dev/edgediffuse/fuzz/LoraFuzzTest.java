package dev.edgediffuse.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.lora.Adapters;
import dev.edgediffuse.lora.LoraFile;
import dev.edgediffuse.lora.LoraLibrary;
import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.lora.LoraSpec;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.testing.Goldens;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * LoRA files as people download them, and the prompt syntax that names them. A file is read, bound to the tiny golden
 * model (sd1_tiny UNet + CLIP, the model LoraTest checks against torch), merged, and applied at run time; a prompt's
 * {@code <lora:...>} tags go through a library whose --lora-dir holds one file.
 */
class LoraFuzzTest {
    private static final ClipTokenizer TOKENIZER = ClipTokenizer.builtIn();
    private static final Checkpoint MODEL = goldenModel();
    private static final Path DIR = loraDir();
    private static final java.util.regex.Pattern TAG = java.util.regex.Pattern.compile("<lora:[^>]*>");

    private static Checkpoint goldenModel() {
        SafeTensors unet = SafeTensors.open(Goldens.dir("unet/sd1_tiny").resolve("diffusion_pytorch_model.safetensors"));
        SafeTensors text = SafeTensors.open(Goldens.dir("clip/sd1").resolve("model.safetensors"));
        ModelConfigs tiny = ModelConfigs.builtIn("tiny");
        // kept open for the JVM's life: every input binds to these tensors
        return Checkpoint.of("golden",
                Component.of(Component.UNET, Config.read(Goldens.dir("unet/sd1_tiny").resolve("config.json")), unet.tensors(), "sd1_tiny"),
                Component.of(Component.VAE, tiny.vae(), Map.of(), "none"),
                Component.of(Component.TEXT_ENCODER, Config.read(Goldens.dir("clip/sd1").resolve("config.json")), text.tensors(), "clip sd1"),
                tiny.scheduler(), SamplingDefaults.STANDARD);
    }

    private static Path loraDir() {
        try {
            Path dir = Files.createTempDirectory("edgediffuse-fuzz-lora");
            Files.copy(Goldens.dir("lora").resolve("kohya.safetensors"), dir.resolve("style.safetensors"));
            dir.resolve("style.safetensors").toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Any bytes as a LoRA .safetensors file (kohya or diffusers/PEFT keys, LoCon convs, alpha, bundled words): read,
     * bound to the model, merged (every changed weight computed) and applied at run time (the models built with the
     * branches and run once).
     */
    @FuzzTest(maxDuration = "30s")
    void file(byte[] bytes) {
        if (bytes == null) return; // Jazzer's first input
        Path p = Contract.file(".safetensors", bytes);
        try {
            Contract.holds(() -> {
                try (LoraFile f = LoraFile.read(p)) {
                    Adapters a = Adapters.bind(MODEL, List.of(new Adapters.Use(f, 0.7f, 1.25f)), TOKENIZER);
                    merged(LoraMode.MERGE.apply(MODEL, a, LayerPolicy.DENSE, LayerPolicy.DENSE));
                    runtime(LoraMode.RUNTIME.apply(MODEL, a, LayerPolicy.DENSE, LayerPolicy.DENSE));
                }
            }, ModelFormatException.class);
        } finally {
            Contract.delete(p);
        }
    }

    /** Any prompt through a library with --lora-dir: the tags parsed, every name resolved to a file in that folder. */
    @FuzzTest(maxDuration = "30s")
    void prompt(String prompt) {
        if (prompt == null) return;
        LoraLibrary library = new LoraLibrary(DIR, List.of(), LoraMode.AUTO);
        Contract.holds(() -> {
            LoraLibrary.Selection s = library.select(prompt);
            // an unclosed "<lora:" is text, as in A1111; a whole tag never reaches the tokenizer
            if (s.prompt() != null && TAG.matcher(s.prompt()).find()) throw new AssertionError("a tag is left in " + s.prompt());
            for (LoraSpec spec : s.loras()) {
                if (!spec.file().getParent().equals(DIR)) throw new AssertionError(spec.file() + " is outside --lora-dir");
                if (!Float.isFinite(spec.text()) || !Float.isFinite(spec.unet())) throw new AssertionError("multiplier " + spec);
            }
        }, IllegalArgumentException.class);
    }

    /** Every weight the merge changed, computed. */
    private static void merged(LoraMode.Applied applied) {
        for (Component c : List.of(applied.checkpoint().unet, applied.checkpoint().text)) {
            Component before = c.kind().equals(Component.UNET) ? MODEL.unet : MODEL.text;
            for (Map.Entry<String, ModelTensor> e : c.tensors().entrySet()) {
                if (e.getValue() != before.tensors().get(e.getKey())) e.getValue().get();
            }
        }
    }

    /** The models built with the run-time branches, each run once. */
    private static void runtime(LoraMode.Applied applied) {
        Checkpoint cp = applied.checkpoint();
        ClipTextModel text = new ClipTextModel(cp.text.config(), cp.text.weights().withPolicy(applied.text()));
        UNet2DConditionModel unet = new UNet2DConditionModel(cp.unet.config(), cp.unet.weights().withPolicy(applied.unet()));
        applied.checkAllBuilt();
        float[] context = text.encode(new int[][]{{0, 5, 17, 2}});
        int tokens = context.length / cp.text.config().getInt("hidden_size");
        unet.predict(new FeatureMap(new float[8 * 8 * 4], 1, 8, 8, 4), new float[]{500}, context, tokens);
    }
}
