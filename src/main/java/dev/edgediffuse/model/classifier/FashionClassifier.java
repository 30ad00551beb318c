package dev.edgediffuse.model.classifier;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.nn.Conv;
import dev.edgediffuse.nn.GroupNorm;
import dev.edgediffuse.nn.Linear;
import dev.edgediffuse.nn.Ops;
import dev.edgediffuse.nn.Pooling;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small CNN that tells the ten Fashion-MNIST classes apart, the yardstick of generated images: 3×3 conv_in →
 * per stage (a stride-2 3×3 conv between stages, then pre-activation residual blocks GroupNorm+SiLU → conv →
 * GroupNorm+SiLU → conv) → GroupNorm+SiLU → global average pooling (or the whole map flattened) → optionally a
 * hidden linear layer + SiLU → linear head. The penultimate features (FID's) are the input of the head.
 * Input: single-channel images in [-1, 1], channels-last [batch][size][size][1]; RGB images are averaged to grey.
 */
public final class FashionClassifier implements AutoCloseable {
    public static final String CONFIG = "config.json", WEIGHTS = "model.safetensors";
    /** Images per forward pass in {@link #features}/{@link #logits}, bounding activation memory. */
    private static final int CHUNK = 250;

    private final FashionClassifierConfig config;
    private final Conv convIn;
    private final List<Conv> downs = new ArrayList<>();
    private final List<Block> blocks = new ArrayList<>();
    private final GroupNorm normOut;
    private final Linear hidden, head;
    private final SafeTensors file;

    private record Block(int stage, GroupNorm norm1, Conv conv1, GroupNorm norm2, Conv conv2) {
        FeatureMap forward(FeatureMap x) {
            FeatureMap h = conv1.forward(norm1, true, x);
            h = conv2.forward(norm2, true, h);
            return h.with(Ops.add(h.data(), x.data()));
        }
    }

    public FashionClassifier(FashionClassifierConfig config, Weights w) {
        this(config, w, null);
    }

    private FashionClassifier(FashionClassifierConfig config, Weights w, SafeTensors file) {
        this.config = config;
        this.file = file;
        int[] ch = config.channels();
        int g = config.groups();
        double eps = config.eps();
        convIn = Conv.of(w, "conv_in", config.inChannels(), ch[0], 3, 1, 1);
        for (int s = 0; s < ch.length; s++) {
            if (s > 0) downs.add(Conv.of(w, "stages." + s + ".downsample", ch[s - 1], ch[s], 3, 2, 1));
            for (int b = 0; b < config.blocks()[s]; b++) {
                Weights bw = w.scope("stages." + s + ".blocks." + b);
                blocks.add(new Block(s, new GroupNorm(bw, "norm1", ch[s], g, eps), Conv.of(bw, "conv1", ch[s], ch[s], 3, 1, 1),
                        new GroupNorm(bw, "norm2", ch[s], g, eps), Conv.of(bw, "conv2", ch[s], ch[s], 3, 1, 1)));
            }
        }
        normOut = new GroupNorm(w, "norm_out", ch[ch.length - 1], g, eps);
        hidden = config.hiddenDim() > 0 ? Linear.of(w, "hidden", config.pooledDim(), config.hiddenDim(), true) : null;
        head = Linear.of(w, "head", config.featureDim(), config.numClasses(), true);
    }

    /** The tensors (name → shape) a checkpoint of this architecture holds, in construction order. */
    public static Map<String, int[]> tensorShapes(FashionClassifierConfig config) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        new FashionClassifier(config, Weights.recording("classifier", shapes));
        return shapes;
    }

    /** Loads DIR/config.json and DIR/model.safetensors (any float dtype); close() unmaps the weights. */
    public static FashionClassifier load(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": classifier folder not found");
        FashionClassifierConfig config = FashionClassifierConfig.from(Config.read(dir.resolve(CONFIG)));
        Path weights = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(weights)) throw new ModelFormatException(weights + ": file not found");
        SafeTensors st = SafeTensors.open(weights);
        try {
            return new FashionClassifier(config, new Weights(weights.toString(), st.tensors()), st);
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    public FashionClassifierConfig config() {
        return config;
    }

    /** Penultimate features [batch][featureDim] of one batch, recorded on an active tape (training). */
    public float[] forwardFeatures(FeatureMap x) {
        List<FeatureMap> stages = forwardStages(x);
        FeatureMap last = stages.get(stages.size() - 1);
        float[] pooled = config.flatten() ? last.data() : Pooling.globalAverage(last);
        return hidden == null ? pooled : Ops.silu(hidden.forward(pooled, x.batch()));
    }

    /**
     * Each stage's output map, the last one after the closing GroupNorm+SiLU (the map the features pool), recorded on
     * an active tape: the activations a feature-matching loss compares.
     */
    public List<FeatureMap> forwardStages(FeatureMap x) {
        if (x.channels() != config.inChannels() || x.height() != config.imageSize() || x.width() != config.imageSize()) {
            throw new IllegalArgumentException("classifier expects " + config.imageSize() + "x" + config.imageSize() + "x"
                    + config.inChannels() + " images, got " + x.height() + "x" + x.width() + "x" + x.channels());
        }
        List<FeatureMap> out = new ArrayList<>();
        FeatureMap h = convIn.forward(x);
        int stage = 0;
        for (Block b : blocks) {
            while (stage < b.stage()) {
                out.add(h);
                h = downs.get(stage++).forward(h);
            }
            h = b.forward(h);
        }
        while (stage < downs.size()) {
            out.add(h);
            h = downs.get(stage++).forward(h);
        }
        out.add(normOut.forward(h, true));
        return out;
    }

    /** Logits [batch][classes] of one batch, recorded on an active tape (training). */
    public float[] forwardLogits(FeatureMap x) {
        return head.forward(forwardFeatures(x), x.batch());
    }

    /** Penultimate features of any number of images (see {@link #prepare}), in chunks. */
    public float[] features(FeatureMap images) {
        return chunked(images, config.featureDim(), true);
    }

    public float[] logits(FeatureMap images) {
        return chunked(images, config.numClasses(), false);
    }

    /** Logits from penultimate features (the head alone), [batch][classes]. */
    public float[] logitsFromFeatures(float[] features, int batch) {
        return head.forward(features, batch);
    }

    /** The most likely class of each image. */
    public int[] predict(FeatureMap images) {
        return argmax(logits(images), config.numClasses());
    }

    public static int[] argmax(float[] logits, int classes) {
        int[] out = new int[logits.length / classes];
        for (int n = 0; n < out.length; n++) {
            int best = 0;
            for (int k = 1; k < classes; k++) if (logits[n * classes + k] > logits[n * classes + best]) best = k;
            out[n] = best;
        }
        return out;
    }

    private float[] chunked(FeatureMap images, int width, boolean features) {
        FeatureMap x = prepare(images);
        int n = x.batch(), per = x.pixels() * x.channels();
        float[] out = new float[n * width];
        for (int start = 0; start < n; start += CHUNK) {
            int b = Math.min(CHUNK, n - start);
            float[] part = new float[b * per];
            System.arraycopy(x.data(), start * per, part, 0, part.length);
            FeatureMap chunk = new FeatureMap(part, b, x.height(), x.width(), x.channels());
            float[] y = features ? forwardFeatures(chunk) : forwardLogits(chunk);
            System.arraycopy(y, 0, out, start * width, y.length);
        }
        return out;
    }

    /**
     * Brings images to what the network takes: channels averaged to grey (the generated images repeat grey in RGB)
     * and sizes that are a whole multiple of the input size averaged down to it.
     */
    public FeatureMap prepare(FeatureMap images) {
        FeatureMap x = images;
        if (x.channels() != config.inChannels()) {
            if (config.inChannels() != 1) {
                throw new IllegalArgumentException("classifier expects " + config.inChannels() + " channels, got " + x.channels());
            }
            x = grey(x);
        }
        if (x.height() != config.imageSize() || x.width() != config.imageSize()) {
            int f = x.height() / config.imageSize();
            if (f < 1 || x.height() != f * config.imageSize() || x.width() != x.height()) {
                throw new IllegalArgumentException("classifier takes " + config.imageSize() + "x" + config.imageSize()
                        + " images (or square whole multiples), got " + x.width() + "x" + x.height());
            }
            x = Pooling.average(x, f);
        }
        return x;
    }

    /** The mean over channels, one channel out. */
    public static FeatureMap grey(FeatureMap x) {
        int c = x.channels(), pixels = x.batch() * x.pixels();
        float[] d = x.data(), out = new float[pixels];
        for (int p = 0; p < pixels; p++) {
            float s = 0;
            for (int j = 0; j < c; j++) s += d[p * c + j];
            out[p] = s / c;
        }
        return new FeatureMap(out, x.batch(), x.height(), x.width(), 1);
    }

    @Override
    public void close() {
        if (file != null) file.close();
    }
}
