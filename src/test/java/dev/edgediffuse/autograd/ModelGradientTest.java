package dev.edgediffuse.autograd;

import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.model.clip.ClipTextModel;
import dev.edgediffuse.model.unet.TokenMerge;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.model.vae.AutoencoderKL;
import dev.edgediffuse.speedup.TokenMergeSettings;
import dev.edgediffuse.speedup.TokenMerging;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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

    /**
     * Token merging as QAT trains with it, before self-attention, cross-attention and the feed-forward of the blocks
     * at full and half resolution. The matching is a discrete choice made on values (not differentiated, as in
     * tomesd), so the plans of the first pass are replayed on the perturbed ones: finite differences then see the
     * one smooth function whose gradient the tape computes.
     */
    @Test
    void unetWithMergedTokens() {
        Parameters p = Parameters.initialize(RandomCheckpoint.unetTensors(TINY.unet()), new Rng(4));
        UNet2DConditionModel unet = new UNet2DConditionModel(TINY.unet(), p.weights("unet"));
        int tokens = 3, ctxDim = unet.crossAttentionDim();
        float[] latents = random(2 * 8 * 8 * 4, 5), context = random(2 * tokens * ctxDim, 6);
        float[] t = {17f, 801f};
        ReplayedPlans merge = new ReplayedPlans(TokenMergeSettings.of(0.5).withMaxDownsample(2).withModules(true, true).withRandomPartition(false));
        report("unet with merged tokens", new GradientCheck(() -> unet.predict(new FeatureMap(latents, 2, 8, 8, 4), t, context, tokens,
                UNetHooks.NONE.withTokenMerge(merge.pass())).data()).with(p).with("latents", latents).with("context", context).randomPerTensor(1).run());
        assertTrue(merge.merged() >= 2, "blocks merged: " + merge.merged());
    }

    /** Token merging whose first pass plans (tomesd's matching) and whose later passes replay those plans. */
    private static final class ReplayedPlans implements TokenMerge {
        private final TokenMergeSettings settings;
        private final List<Merge> plans = new ArrayList<>();
        private TokenMerging planner;
        private int next;

        ReplayedPlans(TokenMergeSettings settings) {
            this.settings = settings;
        }

        /** Starts a forward pass: the first one plans, the rest replay. */
        ReplayedPlans pass() {
            planner = plans.isEmpty() && planner == null ? new TokenMerging(settings, null) : null;
            next = 0;
            return this;
        }

        int merged() {
            return (int) plans.stream().filter(java.util.Objects::nonNull).count();
        }

        @Override
        public Merge plan(float[] x, int batch, int h, int w, int channels, int level) {
            if (planner == null) return plans.get(next++);
            Merge m = planner.plan(x, batch, h, w, channels, level);
            plans.add(m);
            return m;
        }

        @Override
        public boolean selfAttention() {
            return true;
        }

        @Override
        public boolean crossAttention() {
            return settings.crossAttention();
        }

        @Override
        public boolean feedForward() {
            return settings.feedForward();
        }
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
