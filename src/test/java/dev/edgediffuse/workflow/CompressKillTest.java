package dev.edgediffuse.workflow;

import dev.edgediffuse.compress.Calibration;
import dev.edgediffuse.compress.Sensitivity;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A compress run killed (SIGKILL, in its own JVM) in the middle of a calibrate stage: no finished stage folder and no
 * output appear, the rerun continues from the stage's last checkpoint, and the stage's files are those of a run that
 * was never killed, bit for bit.
 */
class CompressKillTest {
    static final String STAGES = """
            [{"stage": "calibrate", "prompts": "general", "count": 8, "batch": 1, "width": 64, "height": 64, "keep_steps": 2,
              "keep_prompts": 3, "hessian_block": 128, "checkpoint_seconds": 0, "formats": ["q4_32", "q8"]}]""";

    @Test
    void aKilledCalibrateStageResumesToTheSameFiles(@TempDir Path dir) throws Exception {
        Path model = TinyCheckpoints.write(dir).folder();
        Path recipe = dir.resolve("kill.json");
        Files.writeString(recipe, "{\"name\": \"kill\", \"stages\": " + STAGES + "}");
        CompressRecipe r = CompressRecipe.read(recipe, null);
        Workflow.StageRun reference = new Workflow(r, dir.resolve("reference.work"), null).run(model).stages().getFirst();

        Path out = dir.resolve("killed"), work = dir.resolve("killed.work");
        Path stageWork = work.resolve(reference.dir().getFileName() + ".work");
        Path checkpoint = stageWork.resolve(Calibration.FILE + ".partial");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.edgediffuse.cli.Main", "compress", "--recipe", recipe.toString(), "--model", model.toString(), "--out", out.toString(), "--quiet")
                .redirectErrorStream(true).redirectOutput(dir.resolve("killed.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(checkpoint) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(Files.exists(checkpoint), "the stage saved a checkpoint before it ended: " + Files.readString(dir.resolve("killed.log")));
        } finally {
            p.destroyForcibly(); // SIGKILL: no shutdown hooks, no cleanup
            p.waitFor(30, TimeUnit.SECONDS);
        }
        assertFalse(Files.exists(out), "no output model");
        try (var files = Files.list(work)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                assertTrue(n.endsWith(".work") || n.startsWith(".") && n.endsWith(".part") || n.equals("report"), "only unfinished work: " + n);
            }
        }

        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Workflow.StageRun resumed = new Workflow(r, work, new PrintStream(log, true, StandardCharsets.UTF_8)).run(model).stages().getFirst();
        assertFalse(resumed.cached());
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("calibrate: resuming"), log.toString(StandardCharsets.UTF_8));
        for (String f : List.of(Calibration.FILE, Sensitivity.FILE)) {
            assertArrayEquals(Files.readAllBytes(reference.dir().resolve(StageContext.QUANT).resolve(f)),
                    Files.readAllBytes(resumed.dir().resolve(StageContext.QUANT).resolve(f)), f);
        }
        assertFalse(Files.exists(stageWork), "the stage's work folder goes once the stage is done");
        assertEquals(reference.key(), resumed.key());
    }
}
