package dev.edgediffuse.checkpoint;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.speedup.DeepCacheSettings;
import dev.edgediffuse.speedup.SpeedUps;
import dev.edgediffuse.speedup.TokenMergeSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A model folder's sampling_defaults.json: read field by field, absent fields standard, bad ones a one-line error. */
class SamplingDefaultsTest {
    @Test
    void readsTheFileAndFillsWhatItLeavesOut(@TempDir Path dir) throws IOException {
        assertEquals(SamplingDefaults.STANDARD, SamplingDefaults.of(dir), "no file: the usual SD settings");
        Files.writeString(dir.resolve(SamplingDefaults.FILE), "{\"steps\": 25, \"scheduler\": \"ddim\", \"cfg_scale\": 3, \"cfg_max_timestep\": 500}");
        SamplingDefaults d = SamplingDefaults.of(dir);
        assertEquals(new SamplingDefaults(25, 3f, 500, "ddim"), d);
        assertEquals(d, SamplingDefaults.parse(Config.parse("again", dev.edgediffuse.format.Json.write(d.toJson()))), "toJson round trip");

        Files.writeString(dir.resolve(SamplingDefaults.FILE), "{\"cfg_scale\": 2.5}");
        assertEquals(new SamplingDefaults(20, 2.5f, GenerateRequest.ALL_TIMESTEPS, "euler_a"), SamplingDefaults.of(dir));
    }

    @Test
    void speedUpsRoundTripAndAreLeftOutWhereTheyCannotRun(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve(SamplingDefaults.FILE), "{\"steps\": 25, \"scheduler\": \"ddim\", \"token_merging_ratio\": 0.4, "
                + "\"token_merging_max_downsample\": 2, \"deepcache_interval\": 3, \"deepcache_branch\": 1}");
        SamplingDefaults d = SamplingDefaults.of(dir);
        assertEquals(new SpeedUps(new TokenMergeSettings(0.4, 2, false, false, true), new DeepCacheSettings(3, 1)), d.speedUps());
        assertEquals(d, SamplingDefaults.parse(Config.parse("again", dev.edgediffuse.format.Json.write(d.toJson()))), "toJson round trip");
        assertEquals(d.speedUps(), d.speedUpsFor(25, "ddim"));
        assertEquals(d.speedUps().withDeepCache(null), d.speedUpsFor(9, "ddim"), "DeepCache needs 10 steps: a request for fewer runs without it");
        assertEquals(d.speedUps().withDeepCache(null), d.speedUpsFor(25, "lcm"), "nor with LCM");
        assertEquals(List.of("steps", "cfg_scale", "cfg_max_timestep", "scheduler"), List.copyOf(SamplingDefaults.STANDARD.toJson().keySet()),
                "a model without speed-ups writes the file as before");
    }

    @Test
    void badFieldsNameTheFileAndTheField(@TempDir Path dir) throws IOException {
        String[][] cases = {{"{\"steps\": 0}", "steps"}, {"{\"cfg_scale\": -1}", "cfg_scale"}, {"{\"cfg_scale\": \"high\"}", "cfg_scale"},
                {"{\"cfg_max_timestep\": 1001}", "cfg_max_timestep"}, {"{\"scheduler\": \"pndm\"}", "scheduler"}, {"{\"steps\": 2", ""},
                {"{\"steps\": 20, \"cfg_scal\": 2}", "unknown key \"cfg_scal\" (known: steps, cfg_scale, cfg_max_timestep, scheduler, token_merging_ratio"},
                {"{\"token_merging_ratio\": 1.2}", "token_merging_ratio must be a ratio in [0, 1)"},
                {"{\"token_merging_max_downsample\": 2}", "token_merging_max_downsample needs token_merging_ratio"},
                {"{\"token_merging_ratio\": 0.5, \"token_merging_max_downsample\": 3}", "token_merging_max_downsample must be 1, 2, 4 or 8"},
                {"{\"deepcache_interval\": 1}", "deepcache_interval"}, {"{\"deepcache_branch\": 1}", "deepcache_branch needs deepcache_interval"}};
        Path file = dir.resolve(SamplingDefaults.FILE);
        for (String[] c : cases) {
            Files.writeString(file, c[0]);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> SamplingDefaults.of(dir), c[0]);
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(c[1]), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), c[0]);
        }
    }

    @Test
    void theBuiltInModelCarriesTheSettingsItsEvaluationChose() {
        try (Pipeline p = Pipeline.load(BuiltInModel.path(null))) {
            assertEquals(new SamplingDefaults(25, 2.0f, 450, "ddim"), p.samplingDefaults());
        }
    }
}
