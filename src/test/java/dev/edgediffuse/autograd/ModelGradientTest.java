package dev.edgediffuse.autograd;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole models trained through the tape, checked against finite differences: for every parameter tensor of the
 * tiny UNet, CLIP text encoder and VAE, its largest-gradient entry and a random one, plus the inputs.
 */
class ModelGradientTest {
    private static final ModelConfigs TINY = ModelConfigs.builtIn("tiny");

    private static float[] random(int n, long seed) {
        return GradientCheck.random(n, seed, 1f);
    }

    private static void report(String what, double worst) {
        System.out.printf("gradient %-28s max rel error %.2e%n", what, worst);
        assertTrue(worst <= 1e-2);
    }

    @Test
    void unet() {
        Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(TINY.unet()), new Rng(1));
        UNet2DConditionModel unet = new UNet2DConditionModel(TINY.unet(), p.weights("unet"));
        int tokens = 3, ctxDim = unet.crossAttentionDim();
        float[] latents = random(2 * 8 * 8 * 4, 2), context = random(2 * tokens * ctxDim, 3);
        float[] t = {17f, 801f};
        report("unet (tiny)", new GradientCheck(() -> unet.predict(new FeatureMap(latents, 2, 8, 8, 4), t, context, tokens).data())
                .with(p).with("latents", latents).with("context", context).randomPerTensor(1).run());
    }

    @Test
    void unetWithThePromptInItsTimeEmbedding() {
        Map<String, Object> values = new LinkedHashMap<>(TINY.unet().values());
        values.put("addition_embed_type", "text");
        values.put("addition_embed_type_num_heads", 4);
        Config config = new Config("tiny+text", values);
        Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(config), new Rng(8));
        UNet2DConditionModel unet = new UNet2DConditionModel(config, p.weights("unet"));
        int tokens = 3, ctxDim = unet.crossAttentionDim();
        float[] latents = random(2 * 8 * 8 * 4, 9), context = random(2 * tokens * ctxDim, 10);
        float[] t = {17f, 801f};
        report("unet + text time embedding", new GradientCheck(() -> unet.predict(new FeatureMap(latents, 2, 8, 8, 4), t, context, tokens).data())
                .with(p.only("add_embedding.")).with("context", context).randomPerTensor(2).run());
    }

    @Test
    void textEncoder() {
        Parameters p = Parameters.initialize(RandomCheckpoint.textTensors(TINY.text()), new Rng(4));
        ClipTextModel clip = new ClipTextModel(TINY.text(), p.weights("text_encoder"));
        int[][] ids = {{49406, 320, 1125, 49407, 49407}, {49406, 9938, 49407, 49407, 49407}};
        report("clip text (tiny)", new GradientCheck(() -> clip.encode(ids)).with(p).randomPerTensor(1).run());
    }

    @Test
    void autoencoder() {
        Parameters p = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(5));
        AutoencoderKL vae = new AutoencoderKL(TINY.vae(), p.weights("vae"));
        int size = 16, down = vae.downscale();
        float[] image = random(size * size * 3, 6);
        report("vae encoder (tiny)", new GradientCheck(() -> vae.moments(new FeatureMap(image, 1, size, size, 3)).data())
                .with(p).with("image", image).randomPerTensor(1).run());
        float[] z = random((size / down) * (size / down) * 4, 7);
        report("vae decoder (tiny)", new GradientCheck(() -> vae.decodeRaw(new FeatureMap(z, 1, size / down, size / down, 4)).data())
                .with(p).with("z", z).randomPerTensor(1).run());
    }
}
