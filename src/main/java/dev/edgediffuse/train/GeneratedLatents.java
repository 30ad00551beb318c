package dev.edgediffuse.train;

import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.format.SafeTensorsWriter;
import dev.edgediffuse.nn.FeatureMap;
import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.Pipeline;
import dev.edgediffuse.pipeline.SamplingDefaults;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Latents a trained model generates from pure noise at its own sampling defaults and the training images' size, mapped back into the encoder's
 * (unscaled) space: what its decoder meets in use, unlike the encoder's latents of real images. Latent i asks for
 * class i mod 10 with a caption template drawn from {@code seed} and is generated with seed {@code seed + i}
 * (far from the evaluation's seeds 0, 1, …). Kept in the work folder, so a resumed run does not generate them again.
 */
record GeneratedLatents(float[] values, int count, int height, int width, int channels) {
    private static final int BATCH = 50;

    static GeneratedLatents loadOrGenerate(Path model, int count, long seed, Path cache, PrintStream log) throws IOException {
        if (Files.exists(cache)) return read(cache, count);
        GeneratedLatents g = generate(model, count, seed, log);
        int[] shape = {g.count, g.height, g.width, g.channels};
        new SafeTensorsWriter().add("latents", DType.F32, g.values, shape).metadata("seed", Long.toString(seed)).write(cache);
        return g;
    }

    private static GeneratedLatents generate(Path model, int count, long seed, PrintStream log) {
        try (Denoiser d = Denoiser.load(model, Pipeline.Options.DEFAULT)) {
            SamplingDefaults s = d.samplingDefaults();
            int size = FashionMnist.SIZE; // the training images' size, whose latents the decoder learned
            Random templates = new Random(seed);
            float[] values = null;
            int[] shape = null;
            long t0 = System.nanoTime();
            for (int start = 0; start < count; start += BATCH) {
                List<DenoiseSession> sessions = new ArrayList<>();
                for (int i = start; i < Math.min(count, start + BATCH); i++) {
                    String prompt = Captions.random(i % FashionMnist.CLASSES.length, templates);
                    sessions.add(d.start(new GenerateRequest(prompt, "", s.steps(), s.cfg(), s.cfgMaxTimestep(), s.scheduler(),
                            seed + i, size, size, null, null, 1f)));
                }
                while (!sessions.getFirst().done()) d.step(sessions);
                for (int j = 0; j < sessions.size(); j++) {
                    float[] z = sessions.get(j).latents();
                    if (values == null) {
                        shape = sessions.get(j).latentShape();
                        values = new float[count * z.length];
                    }
                    d.latentSpace().fromUnet(z);
                    System.arraycopy(z, 0, values, (start + j) * z.length, z.length);
                }
                int done = Math.min(count, start + BATCH);
                double sec = (System.nanoTime() - t0) / 1e9;
                if (log != null) {
                    log.printf(Locale.ROOT, "generating latents %d/%d  %.1f latents/s  ETA %.0f s%n", done, count, done / sec,
                            (count - done) * sec / done);
                }
            }
            // latentShape() is [channels, height, width]; the values are channels-last
            return new GeneratedLatents(values, count, shape[1], shape[2], shape[0]);
        }
    }

    private static GeneratedLatents read(Path cache, int count) {
        try (SafeTensors st = SafeTensors.open(cache)) {
            Weight w = st.tensors().get("latents");
            if (w == null || w.shape().length != 4 || w.shape()[0] != count) {
                throw new ModelFormatException(cache + ": expected a tensor \"latents\" of " + count + " latents, found "
                        + (w == null ? "none" : w.shapeString()) + " (delete it to generate them again)");
            }
            int[] s = w.shape();
            float[] v = new float[s[0] * s[1] * s[2] * s[3]];
            w.copyTo(0, v, 0, v.length);
            return new GeneratedLatents(v, s[0], s[1], s[2], s[3]);
        }
    }

    /** The latents at {@code indices} as one [n][h][w][c] map. */
    FeatureMap batch(int[] indices) {
        int size = height * width * channels;
        float[] out = new float[indices.length * size];
        for (int j = 0; j < indices.length; j++) System.arraycopy(values, indices[j] * size, out, j * size, size);
        return new FeatureMap(out, indices.length, height, width, channels);
    }

    @Override
    public String toString() {
        return count + " generated latents " + Arrays.toString(new int[]{height, width, channels});
    }
}
