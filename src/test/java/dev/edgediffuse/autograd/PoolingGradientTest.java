package dev.edgediffuse.autograd;

import dev.edgediffuse.model.classifier.FashionClassifier;
import dev.edgediffuse.model.classifier.FashionClassifierConfig;
import dev.edgediffuse.nn.Pooling;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.train.Parameters;
import dev.edgediffuse.train.Rng;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The pooling ops' backward and the whole Fashion-MNIST classifier's gradients against finite differences. */
class PoolingGradientTest {
    private static float[] random(int n, long seed) {
        Rng r = new Rng(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
        return v;
    }

    @Test
    void globalAveragePooling() {
        float[] x = random(3 * 4 * 5 * 6, 1);
        double worst = new GradientCheck(() -> Pooling.globalAverage(new FeatureMap(x, 3, 4, 5, 6))).with("x", x).randomPerTensor(8).run();
        assertTrue(worst <= 1e-2, "max relative error " + worst);
        float[] y = Pooling.globalAverage(new FeatureMap(x, 3, 4, 5, 6));
        double mean = 0;
        for (int p = 0; p < 20; p++) mean += x[(2 * 20 + p) * 6 + 4];
        assertEquals(mean / 20, y[2 * 6 + 4], 1e-6, "image 2, channel 4 is the mean of its 20 pixels");
    }

    @Test
    void blockAveragePooling() {
        float[] x = random(2 * 4 * 6 * 3, 2);
        double worst = new GradientCheck(() -> Pooling.average(new FeatureMap(x, 2, 4, 6, 3), 2).data()).with("x", x).randomPerTensor(8).run();
        assertTrue(worst <= 1e-2, "max relative error " + worst);
        FeatureMap y = Pooling.average(new FeatureMap(x, 2, 4, 6, 3), 2);
        assertEquals(2, y.height());
        assertEquals(3, y.width());
        // output (b=1, y=1, x=2, c=0) averages input rows 2..3, columns 4..5
        double s = 0;
        for (int dy = 0; dy < 2; dy++) for (int dx = 0; dx < 2; dx++) s += x[((4 + 2 + dy) * 6 + 4 + dx) * 3];
        assertEquals(s / 4, y.data()[((2 + 1) * 3 + 2) * 3], 1e-6);
        assertThrows(IllegalArgumentException.class, () -> Pooling.average(new FeatureMap(x, 2, 4, 6, 3), 4));
    }

    @Test
    void wholeClassifier() {
        var config = new FashionClassifierConfig(8, 1, new int[]{4, 8}, new int[]{1, 1}, 2, 1e-5, 10);
        Parameters p = Parameters.initialize(FashionClassifier.tensorShapes(config), new Rng(3));
        Rng r = new Rng(4);
        for (float[] a : p.arrays()) for (int i = 0; i < a.length; i++) a[i] += 0.2f * r.nextGaussian();
        FashionClassifier model = new FashionClassifier(config, p.weights("t"));
        float[] x = random(2 * 8 * 8, 5);
        double worst = new GradientCheck(() -> model.forwardLogits(new FeatureMap(x, 2, 8, 8, 1))).with(p).with("x", x).run();
        assertTrue(worst <= 1e-2, "max relative error " + worst);
    }
}
