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
        assertEquals("an ankle boot, product shot", Captions.evaluation(9, 3));
        Set<String> all = new HashSet<>(Captions.all(2));
        Set<String> seen = new HashSet<>();
        Random r = new Random(1);
        for (int i = 0; i < 5000; i++) {
            String c = Captions.random(2, r::nextInt);
            assertTrue(all.contains(c), c);
            assertFalse(c.contains(" a o") || c.contains(" a a") || c.startsWith("a o") || c.startsWith("a a"), "article: " + c);
            seen.add(c);
        }
        assertTrue(seen.contains("a photo of a sweater") && seen.contains("an old hoodie"), "names and attributes vary");
        assertTrue(seen.size() > 1500, "captions vary: " + seen.size());
        // the evaluation keeps v1-v7's ten templates with the class's own name
        for (int t = 0; t < 10; t++) assertTrue(all.contains(Captions.evaluation(2, t)), Captions.evaluation(2, t));
    }

    @Test
    void heldOutPromptsCoverEveryClassAndNoCaptionUsesThem() {
        var prompts = HeldOutPrompts.all();
        assertTrue(prompts.size() >= 100, "at least 100 held-out prompts");
        Set<String> captions = new HashSet<>();
        for (int c = 0; c < FashionMnist.CLASSES.length; c++) captions.addAll(Captions.all(c));
        int[] perClass = new int[FashionMnist.CLASSES.length];
        Set<String> distinct = new HashSet<>();
        for (var p : prompts) {
            perClass[p.label()]++;
            assertFalse(captions.contains(p.text()), "a training caption: " + p.text());
            assertFalse(captions.contains(p.text().toLowerCase()), "a training caption: " + p.text());
            assertTrue(distinct.add(p.text()), "twice: " + p.text());
        }
        for (int n : perClass) assertTrue(n >= 10, "ten or more per class");
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
