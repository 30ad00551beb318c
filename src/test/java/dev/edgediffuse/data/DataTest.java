package dev.edgediffuse.data;

import dev.edgediffuse.format.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class DataTest {
    @Test
    void captionsNameTheClassWithTheRightArticle() {
        assertEquals("a photo of a sneaker", Captions.prompt(7));
        assertEquals("a photo of an ankle boot", Captions.prompt(9));
        assertEquals("an ankle boot, product shot", Captions.of(9, 3));
        Set<String> seen = new HashSet<>();
        Random r = new Random(1);
        for (int i = 0; i < 200; i++) {
            String c = Captions.random(2, r);
            assertTrue(c.contains("pullover"), c);
            seen.add(c);
        }
        assertEquals(Captions.templates(), seen.size(), "every template is used");
    }

    @Test
    void readsTheDebianFashionMnistFiles() {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(FashionMnist.DEFAULT_DIR),
                "dataset-fashion-mnist not installed");
        FashionMnist test = FashionMnist.test(FashionMnist.DEFAULT_DIR);
        assertEquals(10000, test.count());
        int[] perClass = new int[10];
        for (int l : test.labels()) perClass[l]++;
        for (int c : perClass) assertEquals(1000, c, "the test split is balanced");
        float[] img = test.image(0);
        assertEquals(32 * 32, img.length);
        assertEquals(-1f, img[0], "2-pixel zero border from padding 28x28 to 32x32");
        float max = -1;
        for (float v : img) max = Math.max(max, v);
        assertTrue(max > 0.5f, "real image content");
    }

    @TempDir
    Path dir;

    @Test
    void missingDataSaysHowToGetIt() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> FashionMnist.train(dir));
        assertTrue(e.getMessage().contains("dataset-fashion-mnist"), e.getMessage());
    }
}
