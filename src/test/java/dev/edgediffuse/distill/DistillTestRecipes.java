package dev.edgediffuse.distill;

import java.nio.file.Path;

/** The tiny distillation recipe of DistillTest, for tests in other packages. */
public final class DistillTestRecipes {
    private DistillTestRecipes() {}

    public static String recipe(Path teacher, Path data, long steps) {
        return DistillTest.recipe(teacher, data, steps);
    }
}
