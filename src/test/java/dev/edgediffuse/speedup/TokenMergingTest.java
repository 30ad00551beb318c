package dev.edgediffuse.speedup;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.model.unet.TokenMerge;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.model.unet.UNetHooks;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static dev.edgediffuse.testing.Goldens.assertClose;
import static dev.edgediffuse.testing.Goldens.assertRelClose;
import static dev.edgediffuse.testing.Goldens.dir;
import static dev.edgediffuse.testing.Goldens.load;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Token merging against a torch reference of tomesd's bipartite soft matching (tools/goldens/tome.py): merge and
 * unmerge of fixed tokens, and a whole UNet with merged transformer blocks; no merge gives the plain bits.
 */
class TokenMergingTest {
    @Test
    void mergeAndUnmergeMatchTorch() {
        // 6x8 with a given destination per cell (two images, two partitions); 5x7 with top-left destinations
        check("even", 6, 8, 24, true);
        check("odd", 5, 7, 21, false);
    }

    private static void check(String name, int h, int w, int r, boolean chosen) {
        int c = 12;
        float[] x = load("tome", name + "_x").data();
        int[][] choices = null;
        if (chosen) {
            float[] f = load("tome", name + "_choices").data();
            int cells = f.length / 2;
            choices = new int[2][cells];
            for (int i = 0; i < f.length; i++) choices[i / cells][i % cells] = (int) f[i];
        }
        BipartiteSoftMatching m = BipartiteSoftMatching.plan(x, 2, h, w, c, r, choices);
        assertEquals(h * w - r, m.tokens());
        double err = assertClose(name + " merge", load("tome", name + "_merged").data(), m.merge(x, c), 1e-6);
        assertArrayEquals(load("tome", name + "_unmerged").data(), m.unmerge(load("tome", name + "_y").data(), c), name + " unmerge copies");
        System.out.printf("tome %s: merge max abs error %.2g against torch%n", name, err);
    }

    static UNet2DConditionModel sd1Tiny(SafeTensors st) {
        return new UNet2DConditionModel(Config.read(dir("unet/sd1_tiny").resolve("config.json")), new Weights("sd1_tiny", st.tensors()));
    }

    static float[] predict(UNet2DConditionModel unet, UNetHooks hooks) {
        FeatureMap latents = FeatureMap.fromNchw(load("unet/sd1_tiny", "latents").data(), 2, 4, 8, 8);
        return unet.predict(latents, load("unet/sd1_tiny", "timesteps").data(), load("unet/sd1_tiny", "context").data(), 7, hooks).toNchw();
    }

    @Test
    void aMergedUNetMatchesTorch() {
        try (SafeTensors st = SafeTensors.open(dir("unet/sd1_tiny").resolve("diffusion_pytorch_model.safetensors"))) {
            UNet2DConditionModel unet = sd1Tiny(st);
            TokenMergeSettings half = TokenMergeSettings.of(0.5).withRandomPartition(false);
            TokenMergeSettings all = TokenMergeSettings.of(0.4).withRandomPartition(false).withMaxDownsample(2).withModules(true, true);
            float[] plain = predict(unet, UNetHooks.NONE);
            for (var c : new Object[][]{{"r05", half}, {"r04_all", all}}) {
                float[] merged = predict(unet, UNetHooks.NONE.withTokenMerge(new TokenMerging((TokenMergeSettings) c[1], null)));
                double rel = assertRelClose("sd1_tiny " + c[0], load("tome", "unet_" + c[0]).data(), merged, 1e-4);
                System.out.printf("tome UNet sd1_tiny %s: relative error %.3g against torch%n", c[0], rel);
                assertFalse(Arrays.equals(plain, merged), "merging must change the output");
            }
        }
    }

    @Test
    void noMergeGivesThePlainBits() {
        try (SafeTensors st = SafeTensors.open(dir("unet/sd1_tiny").resolve("diffusion_pytorch_model.safetensors"))) {
            UNet2DConditionModel unet = sd1Tiny(st);
            float[] plain = predict(unet, UNetHooks.NONE);
            long[] seeds = {1, 1};
            // ratio 0 removes nothing, and 0.01 of 64 tokens is int(0.64) = 0: every module of every block runs as it is
            for (double ratio : new double[]{0, 0.01}) {
                TokenMerging m = new TokenMerging(TokenMergeSettings.of(ratio).withModules(true, true), seeds);
                assertArrayEquals(plain, predict(unet, UNetHooks.NONE.withTokenMerge(m)), "ratio " + ratio);
            }
        }
    }

    @Test
    void theRemovedCountIsTomesdsCappedAtTheSources() {
        float[] x = new float[2 * 64 * 4];
        Random rnd = new Random(3);
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        assertEquals(64 - 32, new TokenMerging(TokenMergeSettings.of(0.5), new long[]{1, 2}).plan(x, 2, 8, 8, 4, 1).tokens());
        assertEquals(64 - 19, new TokenMerging(TokenMergeSettings.of(0.3), new long[]{1, 2}).plan(x, 2, 8, 8, 4, 1).tokens());
        // 0.9 asks for 57 but only 48 tokens are sources: one destination per cell stays
        assertEquals(16, new TokenMerging(TokenMergeSettings.of(0.9), new long[]{1, 2}).plan(x, 2, 8, 8, 4, 1).tokens());
        assertNull(new TokenMerging(TokenMergeSettings.of(0.5), new long[]{1, 2}).plan(x, 2, 4, 16, 4, 2), "below max_downsample 1");
        assertNotNull(new TokenMerging(TokenMergeSettings.of(0.5).withMaxDownsample(2), new long[]{1, 2}).plan(x, 2, 4, 16, 4, 2));
    }

    @Test
    void randomPartitionsHaveOneDestinationPerCellAndFollowTheRowSeed() {
        int h = 6, w = 8, c = 5;
        float[] one = new float[h * w * c];
        Random rnd = new Random(5);
        for (int i = 0; i < one.length; i++) one[i] = (float) rnd.nextGaussian();
        float[] x = new float[3 * one.length];
        for (int b = 0; b < 3; b++) System.arraycopy(one, 0, x, b * one.length, one.length);
        // rows 0 and 1 are one session (same seed), row 2 another: identical inputs, so only the partition differs
        TokenMerge.Merge m = new TokenMerging(TokenMergeSettings.of(0.5), new long[]{7, 7, 8}).plan(x, 3, h, w, c, 1);
        float[] merged = m.merge(x, c);
        int per = m.tokens() * c;
        assertArrayEquals(Arrays.copyOfRange(merged, 0, per), Arrays.copyOfRange(merged, per, 2 * per), "a session's rows share the partition");
        assertFalse(Arrays.equals(Arrays.copyOfRange(merged, 0, per), Arrays.copyOfRange(merged, 2 * per, 3 * per)), "another seed, another partition");
        // a later block of the same call draws again
        TokenMerging call = new TokenMerging(TokenMergeSettings.of(0.5), new long[]{7, 7, 8});
        float[] first = call.plan(x, 3, h, w, c, 1).merge(x, c), second = call.plan(x, 3, h, w, c, 1).merge(x, c);
        assertFalse(Arrays.equals(first, second));
        int[] choice = new int[12], dst = new int[12], src = new int[36];
        for (int i = 0; i < choice.length; i++) choice[i] = i % 4;
        BipartiteSoftMatching.partition(h, w, choice, dst, src);
        Set<Integer> cells = new HashSet<>();
        for (int i = 0; i < dst.length; i++) {
            int y = dst[i] / w, xx = dst[i] % w;
            assertTrue(cells.add((y / 2) * (w / 2) + xx / 2), "one destination per cell");
            assertEquals(choice[(y / 2) * (w / 2) + xx / 2], (y % 2) * 2 + xx % 2, "at the chosen position");
        }
    }

    @Test
    void badSettingsNameTheOption() {
        for (double bad : new double[]{-0.1, 1, Double.NaN}) {
            var e = assertThrows(IllegalArgumentException.class, () -> TokenMergeSettings.of(bad).validate());
            assertTrue(e.getMessage().startsWith("--tome"), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> TokenMergeSettings.of(0.5).withMaxDownsample(3).validate());
        assertTrue(e.getMessage().startsWith("--tome-max-downsample"), e.getMessage());
    }
}
