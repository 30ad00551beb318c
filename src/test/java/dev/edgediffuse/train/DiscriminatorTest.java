package dev.edgediffuse.train;

import dev.edgediffuse.autograd.Tape;
import dev.edgediffuse.checkpoint.ModelConfigs;
import dev.edgediffuse.checkpoint.RandomCheckpoint;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.model.vae.AutoencoderKL;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The adversarial decoder step computes both players' gradients in one backward pass; checked here against central
 * differences of each player's own loss: the decoder's (reconstruction − weight·score of its fakes, discriminator
 * fixed) and the discriminator's (hinge on reals and fakes, decoder fixed).
 */
class DiscriminatorTest {
    private static final ModelConfigs TINY = ModelConfigs.builtIn("tiny");

    @Test
    void oneBackwardGivesEachPlayerTheGradientOfItsOwnLoss() {
        checkBothPlayers(0);
    }

    @Test
    void theFeatureMatchingTermsGradientReachesTheDecoderAlone() {
        checkBothPlayers(0.5);
    }

    private static void checkBothPlayers(double featureMatching) {
        Parameters vaeParams = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
        AutoencoderKL vae = new AutoencoderKL(TINY.vae(), vaeParams.weights("vae"));
        FashionMnist data = TrainingLoopTest.syntheticImages(8);
        LatentDataset latents = LatentDataset.encode(vae, data, 1f, null);
        Parameters decoder = vaeParams.only("decoder.", "post_quant_conv.");
        Parameters disc = Discriminator.initialize(new Rng(5));
        Discriminator d = new Discriminator(disc, 0.3, featureMatching);
        DecoderObjective objective = new DecoderObjective(vae, data, latents, 4, 0.5, 7, d);
        Parameters joint = Parameters.union(Map.of("vae.", decoder, "discriminator.", disc));

        long step = 2;
        float[][] grads;
        double decoderLoss;
        try (Tape tape = Tape.begin(joint.arrays())) {
            decoderLoss = objective.step(tape, step);
            grads = joint.arrays().stream().map(tape::grad).toArray(float[][]::new);
        }
        double discLoss = d.lastLoss();
        assertTrue(Double.isFinite(decoderLoss) && discLoss > 0, decoderLoss + " " + discLoss);

        List<String> names = joint.names();
        List<String> probes = new ArrayList<>();
        for (String n : names) {
            if (n.endsWith("conv_out.weight") || n.endsWith("conv_in.weight") || n.endsWith("head.weight") || n.endsWith("head.bias")) probes.add(n);
        }
        assertTrue(probes.stream().anyMatch(n -> n.startsWith("vae.")) && probes.stream().anyMatch(n -> n.startsWith("discriminator.")), probes.toString());
        float h = 1e-3f;
        for (String n : probes) {
            float[] p = joint.get(n), g = grads[names.indexOf(n)];
            assertNotNull(g, n + " got no gradient");
            boolean ofDecoder = n.startsWith("vae.");
            for (int i = 0; i < Math.min(p.length, 6); i++) {
                int k = (int) ((long) i * 7919 % p.length);
                float keep = p[k];
                p[k] = keep + h;
                double up = ofDecoder ? lossOf(objective, joint, step) : discLossOf(objective, d, joint, step);
                p[k] = keep - h;
                double down = ofDecoder ? lossOf(objective, joint, step) : discLossOf(objective, d, joint, step);
                p[k] = keep;
                double numeric = (up - down) / (2 * h);
                assertEquals(numeric, g[k], 2e-3 + 0.03 * Math.abs(numeric), n + "[" + k + "]");
            }
        }
    }

    @Test
    void theAdversarialStageLogsTheDiscriminatorsLossAtEveryLoggedStep(@TempDir Path tmp) throws Exception {
        Parameters vaeParams = Parameters.initialize(RandomCheckpoint.vaeTensors(TINY.vae()), new Rng(3));
        AutoencoderKL vae = new AutoencoderKL(TINY.vae(), vaeParams.weights("vae"));
        FashionMnist data = TrainingLoopTest.syntheticImages(8);
        LatentDataset latents = LatentDataset.encode(vae, data, 1f, null);
        Parameters disc = Discriminator.initialize(new Rng(5));
        Discriminator d = new Discriminator(disc, 0.3, 0);
        Parameters joint = Parameters.union(Map.of("vae.", vaeParams.only("decoder.", "post_quant_conv."), "discriminator.", disc));
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        TrainingLoop.Settings settings = new TrainingLoop.Settings(3, 4, 1e-3, 1, 0.1, 0.0, 1.0, 0.9, 3600, 1);
        new TrainingLoop("gan", joint, settings, tmp, new PrintStream(progress, true, StandardCharsets.UTF_8))
                .run(new DecoderObjective(vae, data, latents, 4, 0.5, 7, d));

        List<String> lines = Files.readAllLines(tmp.resolve("gan.log.jsonl"));
        assertEquals(3, lines.size());
        Pattern field = Pattern.compile("\"discriminator_loss\":([0-9.]+),");
        for (String line : lines) {
            Matcher m = field.matcher(line);
            assertTrue(m.find(), line);
            assertTrue(Double.parseDouble(m.group(1)) >= 0, line);
        }
        Matcher last = field.matcher(lines.get(2));
        assertTrue(last.find());
        assertEquals(d.lastLoss(), Double.parseDouble(last.group(1)), 1e-6);
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("gan 3/3 loss"), progress.toString(StandardCharsets.UTF_8));
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains(String.format(Locale.ROOT, "discriminator_loss %.4f", d.lastLoss())));

        // a pixel-loss stage has no such figure
        Path plain = tmp.resolve("plain");
        new TrainingLoop("decoder", vaeParams.only("decoder.", "post_quant_conv."), settings, plain, null)
                .run(new DecoderObjective(vae, data, latents, 4, 0.5, 7));
        assertFalse(Files.readString(plain.resolve("decoder.log.jsonl")).contains("discriminator"));
    }

    private static double lossOf(DecoderObjective o, Parameters joint, long step) {
        try (Tape tape = Tape.begin(joint.arrays())) {
            return o.step(tape, step);
        }
    }

    private static double discLossOf(DecoderObjective o, Discriminator d, Parameters joint, long step) {
        lossOf(o, joint, step);
        return d.lastLoss();
    }
}
