package dev.edgediffuse.train;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.QuantizePass;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.data.ImageFolder;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.lora.Adapters;
import dev.edgediffuse.lora.LoraFile;
import dev.edgediffuse.lora.WordEmbeddings;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** train-lora: a kill and a resume write the same file bit for bit; the file loads back; a 4-bit base trains (QLoRA). */
class LoraTrainingTest {
    static final String NEW_WORD = "seven";

    static LoraTraining.Settings settings(long steps) {
        return new LoraTraining.Settings(2, 2f, "transformer", true, true, 1e-2, steps, 2, 1e-3, 1, 0.0, 0.9, 0.0, 5.0, 7, 0, DType.F32);
    }

    /** The tiny random model whose embedding of NEW_WORD is zero, as the Mini's are for words its captions never used. */
    static Checkpoint model(Path dir) throws IOException {
        Path folder = dir.resolve("tiny");
        if (!Files.exists(folder)) RandomCheckpoint.writeFolder(folder, ModelConfigs.builtIn("tiny"), DType.F32, 5);
        Checkpoint cp = Checkpoint.open(folder, null);
        ModelTensor table = WordEmbeddings.table(cp);
        int token = ClipTokenizer.builtIn().tokenize(NEW_WORD)[0], hidden = table.shape()[1];
        ModelTensor zeroed = new ModelTensor(table.name(), DType.F32, table.shape(), () -> {
            float[] v = table.get().toFloats();
            java.util.Arrays.fill(v, token * hidden, (token + 1) * hidden, 0f);
            return new Weight(table.name(), DType.F32, table.shape(), MemorySegment.ofArray(v));
        });
        Map<String, ModelTensor> t = new LinkedHashMap<>(cp.text.tensors());
        t.put(table.name(), zeroed);
        return cp.withText(cp.text.withTensors(t, "zeroed"));
    }

    static ImageFolder images(Path dir) throws IOException {
        Path d = Files.createDirectories(dir.resolve("images"));
        Rng rng = new Rng(3);
        for (int i = 0; i < 4; i++) {
            byte[] rgb = new byte[64 * 64 * 3];
            for (int p = 0; p < rgb.length; p++) rgb[p] = (byte) (rng.nextInt(256));
            Png.write(d.resolve("img" + i + ".png"), rgb, 64, 64, Map.of());
            Files.writeString(d.resolve("img" + i + ".txt"), i % 2 == 0 ? "a " + NEW_WORD + " of a cat" : "a dog");
        }
        return ImageFolder.open(d);
    }

    static LoraTraining.Result train(Checkpoint model, ImageFolder data, Path out, Path work, long steps, long stopAfter) throws IOException {
        LoraTraining t = new LoraTraining(model, data, settings(steps), out, work, new PrintStream(new ByteArrayOutputStream()));
        t.stopAfter(stopAfter);
        return t.run();
    }

    @Test
    void killedAndResumedWritesTheSameFile(@TempDir Path dir) throws IOException {
        try (Checkpoint model = model(dir)) {
            ImageFolder data = images(dir);
            Path straight = dir.resolve("straight.safetensors"), resumed = dir.resolve("resumed.safetensors");
            LoraTraining.Result r = train(model, data, straight, dir.resolve("w1"), 5, Long.MAX_VALUE);
            assertEquals(List.of(NEW_WORD), r.newWords());
            assertNull(train(model, data, resumed, dir.resolve("w2"), 5, 3), "stopped after 3 steps");
            assertFalse(Files.exists(resumed), "a killed run leaves no output");
            train(model, data, resumed, dir.resolve("w2"), 5, Long.MAX_VALUE);
            assertArrayEquals(Files.readAllBytes(straight), Files.readAllBytes(resumed));

            // it loads back: kohya names, alpha, the new word's embedding, ss_* metadata
            try (LoraFile f = LoraFile.read(straight)) {
                assertEquals("2", f.metadata().get("ss_network_dim"));
                assertTrue(f.embeddings().containsKey(NEW_WORD));
                Adapters a = Adapters.bind(model, List.of(new Adapters.Use(f, 1, 1)), ClipTokenizer.builtIn());
                assertFalse(a.factors(Component.UNET).isEmpty());
                assertFalse(a.factors(Component.TEXT_ENCODER).isEmpty());
                assertEquals(1f, a.factors(Component.UNET).values().iterator().next().getFirst().scale());
                assertEquals(1, a.words().size());
                // the same factors under diffusers/PEFT names bind to the same layers with the same values
                Path peft = dir.resolve("peft.safetensors");
                toPeft(straight, peft);
                try (LoraFile g = LoraFile.read(peft)) {
                    Adapters b = Adapters.bind(model, List.of(new Adapters.Use(g, 1, 1)), ClipTokenizer.builtIn());
                    for (String c : List.of(Component.UNET, Component.TEXT_ENCODER)) {
                        assertEquals(a.factors(c).keySet(), b.factors(c).keySet(), c);
                        a.factors(c).forEach((path, fs) -> assertArrayEquals(fs.getFirst().up().toFloats(),
                                b.factors(c).get(path).getFirst().up().toFloats(), path));
                    }
                }
            }
        }
    }

    /** kohya names → unet./text_encoder. lora_A/lora_B names (alpha = rank here, so the scale stays 1). */
    static void toPeft(Path kohya, Path peft) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensors st = SafeTensors.open(kohya)) {
            for (Map.Entry<String, Weight> e : st.tensors().entrySet()) {
                String k = e.getKey();
                if (k.endsWith(".alpha") || k.startsWith("bundle_emb.")) continue;
                String layer = k.substring(0, k.indexOf('.'));
                boolean unet = layer.startsWith("lora_unet_");
                String module = dotted(layer.substring(unet ? "lora_unet_".length() : "lora_te_".length()));
                String name = (unet ? "unet." : "text_encoder.") + module + (k.endsWith("lora_down.weight") ? ".lora_A.weight" : ".lora_B.weight");
                w.add(name, DType.F32, e.getValue().toFloats(), e.getValue().shape());
            }
        }
        w.write(peft);
    }

    /** The tiny model's module names from their underscore form (no ambiguity in its names). */
    static String dotted(String underscored) {
        String s = underscored;
        for (String keep : List.of("down_blocks", "up_blocks", "mid_block", "transformer_blocks", "to_q", "to_k", "to_v", "to_out",
                "proj_in", "proj_out", "text_model", "self_attn", "q_proj", "k_proj", "v_proj", "out_proj")) {
            s = s.replace(keep, keep.replace('_', '\u0000'));
        }
        return s.replace('_', '.').replace('\u0000', '_');
    }

    @Test
    void aFourBitBaseStaysFrozenWhileTheLoraTrains(@TempDir Path dir) throws IOException {
        try (Checkpoint f32 = model(dir)) {
            Checkpoint q4 = QuantizePass.apply(f32, new FormatPlan(DType.Q4_32, List.of(), true), Quantizer.Clip.ABSMAX, null);
            Path out = dir.resolve("q.safetensors");
            LoraTraining.Result r = train(q4, images(dir), out, dir.resolve("wq"), 3, Long.MAX_VALUE);
            assertTrue(r.parameters() > 0);
            try (LoraFile f = LoraFile.read(out)) {
                // B started at zero and moved: gradients reached the branches through the 4-bit layers
                float max = 0;
                for (LoraFile.Module m : f.modules()) for (float v : m.up().toFloats()) max = Math.max(max, Math.abs(v));
                assertTrue(max > 0, "up factors trained");
            }
        }
    }
}
