package dev.edgediffuse.data;

import java.util.Random;

/** Captions written from class names with varied templates, so the text encoder learns language, not a label id. */
public final class Captions {
    private static final String[] TEMPLATES = {
            "a photo of a %s", "a %s", "an image of a %s", "a %s, product shot", "a %s on a plain background",
            "a black and white photo of a %s", "a picture of a %s", "a catalogue photo of a %s", "%s", "a small %s"};

    private Captions() {}

    /** A caption for class {@code label}, template chosen by {@code rng}; "a"/"an" agree with the noun. */
    public static String random(int label, Random rng) {
        return of(label, rng.nextInt(TEMPLATES.length));
    }

    public static String of(int label, int template) {
        String noun = FashionMnist.CLASSES[label];
        String text = String.format(TEMPLATES[template], noun);
        return text.replace("a " + noun, article(noun) + " " + noun);
    }

    /** The prompt used to evaluate class {@code label}. */
    public static String prompt(int label) {
        return of(label, 0);
    }

    public static int templates() {
        return TEMPLATES.length;
    }

    private static String article(String noun) {
        return "aeiou".indexOf(noun.charAt(0)) >= 0 ? "an" : "a";
    }
}
