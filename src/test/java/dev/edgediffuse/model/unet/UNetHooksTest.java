package dev.edgediffuse.model.unet;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.train.Parameters;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.edgediffuse.testing.Goldens.assertRelClose;
import static dev.edgediffuse.testing.Goldens.dir;
import static dev.edgediffuse.testing.Goldens.load;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The UNet's per-call hooks on the torch goldens' tiny models: the LCM timestep condition against torch, the feature
 * cache's cut at every position, named block outputs, the token-merge hook, and the no-gradient scope.
 */
class UNetHooksTest {
    /** A golden model, its inputs, and a predict with hooks. */
    record Golden(UNet2DConditionModel unet, FeatureMap latents, float[] timesteps, float[] context) {
        static Golden of(String name, Map<String, Weight> tensors) {
            String c = "unet/" + name;
            Config config = Config.read(dir(c).resolve("config.json"));
            return new Golden(new UNet2DConditionModel(config, new Weights(name, tensors)),
                    FeatureMap.fromNchw(load(c, "latents").data(), 2, 4, 8, 8), load(c, "timesteps").data(), load(c, "context").data());
        }

        float[] predict(UNetHooks hooks) {
            return predict(timesteps, hooks);
        }

        float[] predict(float[] t, UNetHooks hooks) {
            return unet.predict(latents.with(latents.data().clone()), t, context, 7, hooks).data();
        }
    }

    static SafeTensors open(String name) {
        return SafeTensors.open(dir("unet/" + name).resolve("diffusion_pytorch_model.safetensors"));
    }

    @Test
    void theLcmTimestepConditionMatchesTorch() {
        try (SafeTensors st = open("lcm_tiny")) {
            Golden g = Golden.of("lcm_tiny", st.tensors());
            float[] cond = load("unet/lcm_tiny", "timestep_cond").data();
            FeatureMap out = new FeatureMap(g.predict(UNetHooks.NONE.withTimestepCond(cond)), 2, 8, 8, 4);
            double rel = assertRelClose("lcm_tiny", load("unet/lcm_tiny", "noise").data(), out.toNchw(), 1e-4);
            System.out.printf("UNet lcm_tiny (time_cond_proj_dim): relative error %.3g%n", rel);
            assertEquals(12, g.unet().timeCondDim());
            float[] without = g.predict(UNetHooks.NONE);
            assertFalse(java.util.Arrays.equals(without, out.data()), "the condition must matter");
            assertThrows(IllegalArgumentException.class, () -> g.predict(UNetHooks.NONE.withTimestepCond(new float[5])));
        }
    }

    @Test
    void aCachedCallAtEveryCutGivesTheFullCallsOutputForTheSameInputs() {
        for (String name : new String[]{"sd1_tiny", "bk_tiny", "per_stage_tiny"}) {
            try (SafeTensors st = open(name)) {
                Golden g = Golden.of(name, st.tensors());
                float[] full = g.predict(UNetHooks.NONE);
                int skips = g.unet().skipConnections();
                for (int cut = 1; cut <= skips; cut++) {
                    FeatureCache cache = new FeatureCache(cut);
                    assertArrayEquals(full, g.predict(UNetHooks.NONE.withCache(cache, false)), name + ": a storing call is a full call");
                    // the same inputs reach the same deep feature, so a shallow call must land on the same output
                    assertArrayEquals(full, g.predict(UNetHooks.NONE.withCache(cache, true)), name + " cut " + cut);
                }
                // at another timestep the shallow path changes the output, yet it is not the full call's
                FeatureCache cache = new FeatureCache(2);
                g.predict(UNetHooks.NONE.withCache(cache, false));
                float[] later = {700f, 100f};
                float[] cached = g.predict(later, UNetHooks.NONE.withCache(cache, true)), fresh = g.predict(later, UNetHooks.NONE);
                assertFalse(java.util.Arrays.equals(cached, fresh), name);
                assertFalse(java.util.Arrays.equals(cached, full), name);
                assertThrows(IllegalArgumentException.class, () -> g.predict(UNetHooks.NONE.withCache(new FeatureCache(skips + 1), false)));
            }
        }
        assertThrows(IllegalStateException.class, () -> UNetHooks.NONE.withCache(new FeatureCache(2), true), "nothing stored yet");
    }

    @Test
    void blockOutputsAreTappedAsCopies() {
        try (SafeTensors st = open("sd1_tiny")) {
            Golden g = Golden.of("sd1_tiny", st.tensors());
            List<String> names = List.of("conv_in", "down_blocks.0", "down_blocks.1", "mid_block", "up_blocks.0", "up_blocks.1");
            FeatureTaps taps = FeatureTaps.of(names);
            float[] out = g.predict(UNetHooks.NONE.withTaps(taps));
            assertArrayEquals(g.predict(UNetHooks.NONE), out, "tapping changes nothing");
            assertEquals(names, List.copyOf(taps.all().keySet()));
            assertEquals(16, taps.get("down_blocks.0").channels());
            assertEquals(4, taps.get("down_blocks.0").height(), "after the downsampler");
            assertEquals(8, taps.get("up_blocks.0").height(), "after the upsampler");
            float[] kept = taps.get("mid_block").data().clone();
            g.predict(UNetHooks.NONE);
            assertArrayEquals(kept, taps.get("mid_block").data(), "later calls do not overwrite a tapped map");
        }
    }

    /** Merges nothing (every token stands for itself): the merged path must give the unmerged bits. */
    static final class Identity implements TokenMerge {
        final boolean all;
        int plans;

        Identity(boolean all) {
            this.all = all;
        }

        @Override
        public Merge plan(float[] x, int batch, int h, int w, int channels, int level) {
            plans++;
            return new Merge() {
                public int tokens() {
                    return h * w;
                }

                public float[] merge(float[] v, int c) {
                    return v.clone();
                }

                public float[] unmerge(float[] v, int c) {
                    return v.clone();
                }
            };
        }

        public boolean selfAttention() {
            return true;
        }

        public boolean crossAttention() {
            return all;
        }

        public boolean feedForward() {
            return all;
        }
    }

    @Test
    void theTokenMergeHookSeesEveryTransformerBlock() {
        try (SafeTensors st = open("sd2_tiny")) {
            Golden g = Golden.of("sd2_tiny", st.tensors());
            float[] plain = g.predict(UNetHooks.NONE);
            for (boolean all : new boolean[]{false, true}) {
                Identity merge = new Identity(all);
                assertArrayEquals(plain, g.predict(UNetHooks.NONE.withTokenMerge(merge)));
                // sd2_tiny: transformers with 1, 2, 1 layers in the down path, mirrored up (one more layer each), mid 1
                assertEquals(1 + 2 + (2 * 2 + 2 * 1) + 1, merge.plans);
            }
        }
    }

    @Test
    void aTeachersCallInsideANoGradientScopeRecordsNothing() {
        try (SafeTensors st = open("sd1_tiny")) {
            Parameters p = new Parameters();
            st.tensors().forEach((n, w) -> p.put(n, w.shape(), w.toFloats()));
            Golden teacher = Golden.of("sd1_tiny", st.tensors()), student = Golden.of("sd1_tiny", weights(p));
            float[] expected = teacher.predict(UNetHooks.NONE);
            try (Tape tape = Tape.begin(p.arrays())) {
                float[] s = student.predict(UNetHooks.NONE);
                int recorded = tape.size();
                float[] t;
                try (var scope = Tape.noGradient()) {
                    assertFalse(Tape.recording());
                    t = teacher.predict(UNetHooks.NONE);
                }
                assertTrue(Tape.recording());
                assertEquals(recorded, tape.size(), "the teacher recorded nothing");
                assertArrayEquals(expected, t, "the teacher ran as plain inference");
                assertArrayEquals(expected, s, "the student (same weights) agrees");
                float[] dy = new float[s.length];
                for (int i = 0; i < dy.length; i++) dy[i] = s[i] - t[i] + 1e-3f;
                tape.backward(s, dy);
                assertNotNull(tape.grad(p.get("conv_in.weight")));
            }
        }
    }

    static Map<String, Weight> weights(Parameters p) {
        Map<String, Weight> m = new LinkedHashMap<>();
        for (String n : p.names()) m.put(n, new Weight(n, dev.edgediffuse.tensor.DType.F32, p.shapes().get(n),
                java.lang.foreign.MemorySegment.ofArray(p.get(n))));
        return m;
    }
}
