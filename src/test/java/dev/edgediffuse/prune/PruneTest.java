package dev.edgediffuse.prune;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.model.unet.UNet2DConditionModel;
import dev.edgediffuse.prune.WidthPruning.Candidate;
import dev.edgediffuse.prune.WidthPruning.Kind;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.TinyTeacher;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The pruning passes on a random three-stage teacher: what they keep, that the result runs, and their exact identities. */
class PruneTest {
    @TempDir
    static Path dir;
    static Path teacher, teacher2;

    @BeforeAll
    static void write() throws IOException {
        teacher = TinyTeacher.write(dir.resolve("teacher"), 1, 5);
        teacher2 = TinyTeacher.write(dir.resolve("teacher2"), 2, 6);
    }

    private static float[] values(Component c, String name) {
        return c.tensors().get(name).get().toFloats();
    }

    /** One UNet call on fixed random inputs. */
    private static float[] predict(Component unet) {
        UNet2DConditionModel m = new UNet2DConditionModel(unet.config(), unet.weights());
        Random r = new Random(1);
        float[] x = new float[2 * 8 * 8 * 4], ctx = new float[2 * 77 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < ctx.length; i++) ctx[i] = (float) r.nextGaussian();
        return m.predict(new FeatureMap(x, 2, 8, 8, 4), new float[]{100, 700}, ctx, 77).data().clone();
    }

    @Test
    void blockRemovalKeepsBkSdmsLayersAndRuns() {
        try (Checkpoint t = Checkpoint.open(teacher2, null)) {
            Checkpoint base = BlockRemoval.apply(t, BlockRemoval.Preset.BASE);
            // up stages keep their first and last of three layers; down stages their first
            assertArrayEquals(values(t.unet, "up_blocks.1.resnets.2.conv1.weight"), values(base.unet, "up_blocks.1.resnets.1.conv1.weight"));
            assertArrayEquals(values(t.unet, "up_blocks.1.attentions.0.proj_in.weight"), values(base.unet, "up_blocks.1.attentions.0.proj_in.weight"));
            assertFalse(base.unet.tensors().containsKey("down_blocks.0.resnets.1.conv1.weight"));
            assertFalse(base.unet.tensors().containsKey("up_blocks.0.resnets.2.conv1.weight"));
            assertTrue(base.unet.tensors().containsKey("mid_block.resnets.0.conv1.weight"));
            Checkpoint small = BlockRemoval.apply(t, BlockRemoval.Preset.SMALL);
            assertTrue(small.unet.tensors().keySet().stream().noneMatch(n -> n.startsWith("mid_block")));
            Checkpoint tiny = BlockRemoval.apply(t, BlockRemoval.Preset.TINY);
            // student up stage k starts from the teacher's k + 1; the new last down stage has no downsampler
            assertArrayEquals(values(t.unet, "up_blocks.1.resnets.0.conv1.weight"), values(tiny.unet, "up_blocks.0.resnets.0.conv1.weight"));
            assertArrayEquals(values(t.unet, "up_blocks.2.resnets.2.conv2.weight"), values(tiny.unet, "up_blocks.1.resnets.1.conv2.weight"));
            assertFalse(tiny.unet.tensors().containsKey("down_blocks.1.downsamplers.0.conv.weight"));
            assertArrayEquals(new int[]{16, 32}, tiny.unet.config().getInts("block_out_channels"));
            for (Checkpoint s : List.of(base, small, tiny)) assertEquals(2 * 8 * 8 * 4, predict(s.unet).length);
            // every student tensor is one the student's config lists, and every listed one is there
            assertEquals(dev.edgediffuse.checkpoint.RandomCheckpoint.unetTensors(tiny.unet.config()).keySet(), tiny.unet.tensors().keySet());
        }
    }

    @Test
    void presetsThatDoNotFitAreOneLineErrors() throws IOException {
        try (Checkpoint t = Checkpoint.open(teacher, null)) {
            String base = assertThrows(IllegalArgumentException.class, () -> BlockRemoval.apply(t, BlockRemoval.Preset.BASE)).getMessage();
            assertTrue(base.contains("base") && base.contains("removes nothing"), base);
            Checkpoint tiny = BlockRemoval.apply(t, BlockRemoval.Preset.TINY);
            String again = assertThrows(IllegalArgumentException.class, () -> BlockRemoval.apply(tiny, BlockRemoval.Preset.TINY)).getMessage();
            assertTrue(again.contains("at least 3 stages") && again.contains("has 2"), again);
            assertFalse(again.contains("\n"));
        }
        String keep = assertThrows(IllegalArgumentException.class, () -> new SignificancePruning.Settings(0.5, 1, new double[]{0.5, 1.0},
                2, 2, 0, 0, false)).getMessage();
        assertTrue(keep.contains("keep ratio 1.0 is outside (0, 1)"), keep);
    }

    /** Pruning heads whose output columns are zero, or feed-forward units whose output weights are zero, changes nothing. */
    @Test
    void prunedHeadsAndUnitsThatContributeNothingLeaveTheOutput() {
        try (Checkpoint t = Checkpoint.open(teacher, null)) {
            String attn = "down_blocks.0.attentions.0.transformer_blocks.0.attn1", ff = "up_blocks.2.attentions.0.transformer_blocks.0.ff";
            Map<String, ModelTensor> tensors = new LinkedHashMap<>(t.unet.tensors());
            // head 1 of 2 (columns 8..15 of to_out) contributes nothing; so do ff units 0..31 (output columns)
            float[] out = values(t.unet, attn + ".to_out.0.weight");
            for (int r = 0; r < 16; r++) for (int c = 8; c < 16; c++) out[r * 16 + c] = 0;
            tensors.put(attn + ".to_out.0.weight", ModelTensor.of(Weight.ofFloats(attn + ".to_out.0.weight", out, 16, 16)));
            float[] ffOut = values(t.unet, ff + ".net.2.weight");
            for (int r = 0; r < 16; r++) for (int c = 0; c < 32; c++) ffOut[r * 64 + c] = 0;
            tensors.put(ff + ".net.2.weight", ModelTensor.of(Weight.ofFloats(ff + ".net.2.weight", ffOut, 16, 64)));
            Checkpoint zeroed = t.withUnet(t.unet.withTensors(tensors, "zeroed"));
            Checkpoint pruned = WidthPruning.apply(zeroed, Map.of(new Candidate(attn, Kind.ATTENTION, 2), 1,
                    new Candidate(ff, Kind.FEED_FORWARD, 64), 32));
            assertArrayEquals(new int[]{8, 16}, pruned.unet.tensors().get(attn + ".to_q.weight").shape());
            assertArrayEquals(new int[]{64, 16}, pruned.unet.tensors().get(ff + ".net.0.proj.weight").shape());
            float[] a = predict(zeroed.unet), b = predict(pruned.unet);
            double err = 0, norm = 0;
            for (int i = 0; i < a.length; i++) {
                err = Math.max(err, Math.abs(a[i] - b[i]));
                norm = Math.max(norm, Math.abs(a[i]));
            }
            assertTrue(err < 1e-5 * norm, "max difference " + err + " of " + norm);
            // the kept feed-forward units are the ones with output weights: value rows 32..63 and their gates 96..127
            float[] proj = values(zeroed.unet, ff + ".net.0.proj.weight"), kept = values(pruned.unet, ff + ".net.0.proj.weight");
            assertArrayEquals(Arrays.copyOfRange(proj, 32 * 16, 64 * 16), Arrays.copyOfRange(kept, 0, 32 * 16));
            assertArrayEquals(Arrays.copyOfRange(proj, 96 * 16, 128 * 16), Arrays.copyOfRange(kept, 32 * 16, 64 * 16));
        }
    }

    @Test
    void aResnetKeepsItsLargestFiltersAndTheMacsFallByTheirCount() {
        try (Checkpoint t = Checkpoint.open(teacher, null)) {
            String res = "up_blocks.2.resnets.0";
            float[] norms = WidthPruning.rowNorms(t.unet.tensors().get(res + ".conv1.weight"));
            int[] expected = WidthPruning.largest(Arrays.stream(toDouble(norms)).toArray(), 8);
            Checkpoint pruned = WidthPruning.apply(t, Map.of(new Candidate(res, Kind.RESNET, 16), 8));
            float[] w = values(t.unet, res + ".conv1.weight"), kept = values(pruned.unet, res + ".conv1.weight");
            int per = w.length / 16;
            for (int k = 0; k < 8; k++) {
                assertArrayEquals(Arrays.copyOfRange(w, expected[k] * per, (expected[k] + 1) * per), Arrays.copyOfRange(kept, k * per, (k + 1) * per));
                assertTrue(norms[expected[k]] >= sortedDescending(norms)[7]);
            }
            // conv1 (in 48 → 16) and conv2 (16 → 16) at 8×8 lose 8 outputs / inputs; time_emb_proj (64 → 16) 8 rows
            long saved = UNetMacs.of(t.unet.config()) - UNetMacs.of(pruned.unet.config());
            assertEquals(64L * 9 * 48 * 8 + 64L * 9 * 8 * 16 + 64L * 8, saved);
            assertEquals(2 * 8 * 8 * 4, predict(pruned.unet).length);
        }
    }

    @Test
    void significanceRanksAndMeetsAMacTarget() {
        try (Checkpoint t = Checkpoint.open(teacher, null)) {
            long macs = UNetMacs.of(t.unet.config());
            var s = new SignificancePruning.Settings(0.5, macs, SignificancePruning.HYBRID_SD_KEEP, 3, 2, 0, 0, true);
            SignificancePruning.Result r = SignificancePruning.apply(t, s, null);
            assertTrue(r.macs() <= 0.5 * macs, r.macs() + " of " + macs);
            assertEquals(WidthPruning.candidates(t.unet, true).size(), r.ranking().size());
            for (int i = 1; i < r.ranking().size(); i++) assertTrue(r.ranking().get(i - 1).score() <= r.ranking().get(i).score());
            assertEquals(2 * 8 * 8 * 4, predict(r.model().unet).length);
            String far = assertThrows(IllegalArgumentException.class, () -> SignificancePruning.apply(t,
                    new SignificancePruning.Settings(0.01, macs, SignificancePruning.HYBRID_SD_KEEP, 3, 2, 0, 0, false), null)).getMessage();
            assertTrue(far.contains("out of reach"), far);
        }
    }

    @Test
    void theScoreIsTheDistanceOfMeansPlusTheDistanceOfSpreads() {
        float[][] a = {{0, 1}, {2, 3}}, b = {{1, 1}, {3, 5}};
        // means (1, 2) vs (2, 3): distance √2; spreads (1, 1) vs (1, 2): distance 1
        assertEquals(Math.sqrt(2) + 1, SignificancePruning.score(a, b), 1e-12);
        assertEquals(0, SignificancePruning.score(a, a));
    }

    @Test
    void magnitudePruningZeroesTheShareOfSmallestWeightsPerLayer() {
        try (Checkpoint t = Checkpoint.open(teacher, null)) {
            Checkpoint m = MagnitudePruning.apply(t, 0.1);
            for (Map.Entry<String, ModelTensor> e : t.unet.tensors().entrySet()) {
                float[] before = e.getValue().get().toFloats(), after = values(m.unet, e.getKey());
                if (e.getValue().shape().length < 2) {
                    assertArrayEquals(before, after, e.getKey());
                    continue;
                }
                long zeros = 0;
                float largestZeroed = 0, smallestKept = Float.MAX_VALUE;
                for (int i = 0; i < before.length; i++) {
                    if (after[i] == 0 && before[i] != 0) {
                        zeros++;
                        largestZeroed = Math.max(largestZeroed, Math.abs(before[i]));
                    } else {
                        assertEquals(before[i], after[i], e.getKey());
                        smallestKept = Math.min(smallestKept, Math.abs(before[i]));
                    }
                }
                assertEquals(MagnitudePruning.zeroed(before.length, 0.1), zeros, e.getKey());
                assertTrue(largestZeroed <= smallestKept, e.getKey());
            }
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    private static float[] sortedDescending(float[] f) {
        float[] s = f.clone();
        Arrays.sort(s);
        for (int i = 0; i < s.length / 2; i++) {
            float x = s[i];
            s[i] = s[s.length - 1 - i];
            s[s.length - 1 - i] = x;
        }
        return s;
    }
}
