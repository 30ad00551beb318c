package dev.edgediffuse.lora;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.compress.FormatPlan;
import dev.edgediffuse.compress.QuantizePass;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.nn.LayerPolicy;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import dev.edgediffuse.tokenizer.ClipTokenizer;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRA files against the torch golden (tools/goldens/lora.py): kohya and PEFT names resolve to the right layers,
 * merging gives torch's W + Σ m·α/r·up·down, and the run-time branches give what the merged weights give.
 */
class LoraTest {
    static SafeTensors unetFile, textFile;
    static Checkpoint model;

    @BeforeAll
    static void open() {
        unetFile = SafeTensors.open(Goldens.dir("unet/sd1_tiny").resolve("diffusion_pytorch_model.safetensors"));
        textFile = SafeTensors.open(Goldens.dir("clip/sd1").resolve("model.safetensors"));
        ModelConfigs tiny = ModelConfigs.builtIn("tiny");
        Component unet = Component.of(Component.UNET, Config.read(Goldens.dir("unet/sd1_tiny").resolve("config.json")),
                unetFile.tensors(), "sd1_tiny");
        Component text = Component.of(Component.TEXT_ENCODER, Config.read(Goldens.dir("clip/sd1").resolve("config.json")),
                textFile.tensors(), "clip sd1");
        model = Checkpoint.of("golden", unet, Component.of(Component.VAE, tiny.vae(), Map.of(), "none"), text, tiny.scheduler(),
                SamplingDefaults.STANDARD);
    }

    @AfterAll
    static void close() {
        unetFile.close();
        textFile.close();
    }

    static Adapters goldenSet(LoraFile kohya, LoraFile peft) {
        return Adapters.bind(model, List.of(new Adapters.Use(kohya, 0.8f, 0.8f), new Adapters.Use(peft, 1f, 1f)), ClipTokenizer.builtIn());
    }

    static LoraFile golden(String name) {
        return LoraFile.read(Goldens.dir("lora").resolve(name + ".safetensors"));
    }

    @Test
    void readsKohyaAndPeftNames() {
        try (LoraFile kohya = golden("kohya"); LoraFile peft = golden("peft")) {
            assertEquals(11, kohya.modules().size());
            assertEquals("4", kohya.metadata().get("ss_network_dim"));
            assertEquals(3, peft.modules().size());
            Adapters a = goldenSet(kohya, peft);
            Map<String, List<Adapters.Factor>> unet = a.factors(Component.UNET);
            // the kohya and PEFT factors of one layer both apply, in file order
            assertEquals(2, unet.get("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q").size());
            assertTrue(unet.containsKey("up_blocks.1.attentions.2.transformer_blocks.0.ff.net.0.proj"));
            assertTrue(unet.containsKey("mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0"));
            assertEquals(3, a.factors(Component.TEXT_ENCODER).size());
            Adapters.Factor q = unet.get("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q").getFirst();
            assertEquals(0.8f * 2f / 4, q.scale(), 1e-7f); // alpha / rank × multiplier
            Adapters.Factor proj = unet.get("down_blocks.0.attentions.0.proj_in").getFirst();
            assertEquals(0.8f, proj.scale(), 1e-7f); // no alpha: scale 1 × multiplier
        }
    }

    @Test
    void mergeMatchesTorch() {
        try (LoraFile kohya = golden("kohya"); LoraFile peft = golden("peft");
             SafeTensors expected = SafeTensors.open(Goldens.dir("lora").resolve("merged.safetensors"))) {
            Checkpoint merged = LoraMerge.apply(model, goldenSet(kohya, peft));
            double worst = 0;
            for (Map.Entry<String, Weight> e : expected.tensors().entrySet()) {
                String[] cn = e.getKey().split("/", 2);
                Component c = cn[0].equals(Component.UNET) ? merged.unet : merged.text;
                ModelTensor t = c.tensors().get(cn[1]);
                assertEquals(DType.F32, t.dtype(), cn[1]);
                double rel = relative(t.get().toFloats(), e.getValue().toFloats());
                worst = Math.max(worst, rel);
                assertTrue(rel < 1e-5, e.getKey() + ": relative error " + rel);
            }
            System.out.printf("LoRA merge vs torch: %d weights, worst relative error %.2e%n", expected.tensors().size(), worst);
            assertEquals(13, expected.tensors().size());
            // untouched layers stay the very same tensors
            assertTrue(merged.unet.tensors().get("conv_in.weight") == model.unet.tensors().get("conv_in.weight"));
        }
    }

    @Test
    void runTimeBranchesEqualMergedWeights() {
        try (LoraFile kohya = golden("kohya"); LoraFile peft = golden("peft")) {
            Adapters a = goldenSet(kohya, peft);
            LoraMode.Applied runtime = LoraMode.RUNTIME.apply(model, a, LayerPolicy.DENSE, LayerPolicy.DENSE);
            LoraMode.Applied merged = LoraMode.AUTO.apply(model, a, LayerPolicy.DENSE, LayerPolicy.DENSE);
            assertTrue(runtime.unetBranches() != null && merged.unetBranches() == null);

            Config cfg = model.unet.config();
            int batch = 2, size = 8, channels = 4, dim = cfg.getInt("cross_attention_dim"), tokens = 5;
            float[] latents = random(batch * size * size * channels, 3), context = random(batch * tokens * dim, 4);
            float[] t = {999, 301};
            float[] base = unet(model, LayerPolicy.DENSE).predict(map(latents, batch, size), t, context, tokens).data();
            UNet2DConditionModel branched = unet(runtime.checkpoint(), runtime.unet());
            float[] atRunTime = branched.predict(map(latents, batch, size), t, context, tokens).data();
            float[] mergedOut = unet(merged.checkpoint(), merged.unet()).predict(map(latents, batch, size), t, context, tokens).data();
            double err = relative(atRunTime, mergedOut), effect = relative(base, mergedOut);
            System.out.printf("UNet LoRA at run time vs merged: relative error %.2e (the LoRA moves the output by %.2e)%n", err, effect);
            assertTrue(err < 1e-5, "relative error " + err);
            assertTrue(effect > 1e-2, "the LoRA must change the output");

            int[][] ids = {{0, 5, 17, 2}, {0, 9, 2, 1}};
            float[] textRuntime = new ClipTextModel(model.text.config(), runtime.checkpoint().text.weights().withPolicy(runtime.text())).encode(ids);
            float[] textMerged = new ClipTextModel(model.text.config(), merged.checkpoint().text.weights()).encode(ids);
            float[] textBase = new ClipTextModel(model.text.config(), model.text.weights()).encode(ids);
            runtime.checkAllBuilt();
            double textErr = relative(textRuntime, textMerged);
            System.out.printf("text encoder LoRA at run time vs merged: relative error %.2e (moved by %.2e)%n", textErr,
                    relative(textBase, textMerged));
            assertTrue(textErr < 1e-5, "text encoder relative error " + textErr);
        }
    }

    /** On a 4-bit base the run-time branch keeps the delta that requantizing a merged weight would round away. */
    @Test
    void aFourBitBaseKeepsTheLoraAtRunTime() {
        try (LoraFile kohya = golden("kohya"); LoraFile peft = golden("peft")) {
            Checkpoint q4 = QuantizePass.apply(model, new FormatPlan(DType.Q4_32, List.of(), true), Quantizer.Clip.ABSMAX, null);
            Adapters onQ4 = goldenSet(kohya, peft);
            LoraMode.Applied auto = LoraMode.AUTO.apply(q4, Adapters.bind(q4, List.of(new Adapters.Use(kohya, 0.8f, 0.8f),
                    new Adapters.Use(peft, 1f, 1f)), ClipTokenizer.builtIn()), LayerPolicy.DENSE, LayerPolicy.DENSE);
            assertTrue(auto.unetBranches() != null, "quantized layers take run-time branches");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LoraMode.MERGE.apply(q4, onQ4, LayerPolicy.DENSE, LayerPolicy.DENSE));
            assertTrue(e.getMessage().contains("q4_32"), e.getMessage());

            Config cfg = model.unet.config();
            int batch = 1, size = 8, dim = cfg.getInt("cross_attention_dim"), tokens = 5;
            float[] latents = random(batch * size * size * 4, 5), context = random(batch * tokens * dim, 6), t = {500};
            float[] fBase = unet(model, LayerPolicy.DENSE).predict(map(latents, batch, size), t, context, tokens).data();
            float[] fLora = unet(LoraMerge.apply(model, onQ4), LayerPolicy.DENSE).predict(map(latents, batch, size), t, context, tokens).data();
            float[] qBase = unet(q4, LayerPolicy.DENSE).predict(map(latents, batch, size), t, context, tokens).data();
            float[] qLora = unet(auto.checkpoint(), auto.unet()).predict(map(latents, batch, size), t, context, tokens).data();
            double cos = cosine(diff(fLora, fBase), diff(qLora, qBase));
            System.out.printf("LoRA effect on q4_32 at run time vs on f16: cosine %.4f%n", cos);
            assertTrue(cos > 0.9, "the LoRA's effect survives on the 4-bit base: cosine " + cos);
        }
    }

    @Test
    void badFilesAreOneLineErrorsNamingTheTensor(@TempDir Path dir) throws IOException {
        Path unknown = write(dir.resolve("unknown.safetensors"), Map.of(
                "lora_unet_down_blocks_0_attentions_0_proj_banana.lora_down.weight", new int[]{2, 16},
                "lora_unet_down_blocks_0_attentions_0_proj_banana.lora_up.weight", new int[]{16, 2}));
        try (LoraFile f = LoraFile.read(unknown)) {
            var e = assertThrows(ModelFormatException.class, () -> Adapters.bind(model, List.of(new Adapters.Use(f, 1, 1)), ClipTokenizer.builtIn()));
            assertTrue(e.getMessage().matches(".*proj_banana.lora_(down|up).weight matches no unet layer of this model"), e.getMessage());
        }
        Path shape = write(dir.resolve("shape.safetensors"), Map.of(
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", new int[]{2, 17},
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", new int[]{16, 2}));
        try (LoraFile f = LoraFile.read(shape)) {
            var e = assertThrows(ModelFormatException.class, () -> Adapters.bind(model, List.of(new Adapters.Use(f, 1, 1)), ClipTokenizer.builtIn()));
            assertTrue(e.getMessage().matches(".*proj_in.lora_(down|up).weight: down \\[2, 17\\] and up \\[16, 2\\] do not fit the layer.s weight \\[16, 16, 1, 1\\]"), e.getMessage());
        }
        Path loha = write(dir.resolve("loha.safetensors"), Map.of("lora_unet_conv_in.hada_w1_a", new int[]{2, 4}));
        var e = assertThrows(ModelFormatException.class, () -> LoraFile.read(loha));
        assertTrue(e.getMessage().contains("lora_unet_conv_in.hada_w1_a: LoHa is not supported"), e.getMessage());
        Path half = write(dir.resolve("half.safetensors"), Map.of("unet.conv_in.lora_A.weight", new int[]{2, 4, 3, 3}));
        e = assertThrows(ModelFormatException.class, () -> LoraFile.read(half));
        assertTrue(e.getMessage().contains("unet.conv_in.lora_A.weight has no matching up"), e.getMessage());
        Path other = write(dir.resolve("other.safetensors"), Map.of("model.diffusion_model.out.2.weight", new int[]{4, 4}));
        e = assertThrows(ModelFormatException.class, () -> LoraFile.read(other));
        assertTrue(e.getMessage().contains("not a LoRA tensor"), e.getMessage());
    }

    /** diffusers' attention-processor files ({@code attn1.processor.to_q_lora.down.weight}) adapt {@code attn1.to_q}. */
    @Test
    void attentionProcessorKeysNameTheirLayer(@TempDir Path dir) throws IOException {
        String p = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora";
        Path file = write(dir.resolve("processor.safetensors"), Map.of(p + ".down.weight", new int[]{2, 16}, p + ".up.weight", new int[]{16, 2}));
        try (LoraFile f = LoraFile.read(file)) {
            Adapters a = Adapters.bind(model, List.of(new Adapters.Use(f, 1, 1)), ClipTokenizer.builtIn());
            assertEquals(List.of("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0"), List.copyOf(a.factors(Component.UNET).keySet()));
        }
    }

    @Test
    void promptTagsAndCommandLineSpecs() {
        PromptLoras p = PromptLoras.parse("a photo of a <lora:digits:0.7> digit, <lora:style> <lora:x:0.5:0.25> <lora:y:unet=0>");
        assertEquals(List.of(new PromptLoras.Tag("digits", 0.7f, 0.7f), new PromptLoras.Tag("style", 1f, 1f),
                new PromptLoras.Tag("x", 0.5f, 0.25f), new PromptLoras.Tag("y", 1f, 0f)), p.tags());
        assertEquals("a photo of a digit,", p.prompt());
        assertThrows(IllegalArgumentException.class, () -> PromptLoras.parse("<lora:x:heavy>"));
        assertThrows(IllegalArgumentException.class, () -> PromptLoras.parse("<lora::1>"));
        assertEquals(new LoraSpec(Path.of("a/b.safetensors"), 0.5f, 0.5f), LoraSpec.parse("a/b.safetensors:0.5"));
        assertEquals(new LoraSpec(Path.of("b.safetensors"), 1f, 1f), LoraSpec.parse("b.safetensors"));
        assertEquals("no change", PromptLoras.parse("no change").prompt());
    }

    static Path write(Path file, Map<String, int[]> tensors) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        tensors.forEach((name, shape) -> {
            int n = 1;
            for (int d : shape) n *= d;
            w.add(name, DType.F32, random(n, name.hashCode()), shape);
        });
        w.write(file);
        return file;
    }

    static UNet2DConditionModel unet(Checkpoint cp, LayerPolicy policy) {
        return new UNet2DConditionModel(cp.unet.config(), cp.unet.weights().withPolicy(policy));
    }

    static FeatureMap map(float[] latents, int batch, int size) {
        return new FeatureMap(latents.clone(), batch, size, size, 4);
    }

    static float[] random(int n, long seed) {
        Rng r = new Rng(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = 0.3f * r.nextGaussian();
        return v;
    }

    static float[] diff(float[] a, float[] b) {
        float[] d = new float[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    /** ‖a − b‖ / ‖b‖. */
    static double relative(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - b[i]) * (a[i] - b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
