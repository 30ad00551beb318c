package dev.edgediffuse.data;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.IntUnaryOperator;

/**
 * Training captions written from class names, so the text encoder learns language, not a label id: a template
 * around a noun phrase made of one of several names for the class, half the time with an attribute word that suits
 * a grayscale product photo ("a photo of a striped sweater", "a pair of jeans on a plain background"). The
 * evaluation keeps its own fixed set ({@link #evaluation}: the ten templates v1–v7 were trained and measured on, with
 * each class's first name), so template accuracy stays comparable across models; {@link HeldOutPrompts} holds the
 * everyday wordings no caption uses.
 */
public final class Captions {
    /** The templates of models v1–v7, in their order: the evaluation's prompts. */
    private static final String[] EVAL_TEMPLATES = {
            "a photo of a %s", "a %s", "an image of a %s", "a %s, product shot", "a %s on a plain background",
            "a black and white photo of a %s", "a picture of a %s", "a catalogue photo of a %s", "%s", "a small %s"};

    /** Training templates: the evaluation's ten and more phrasings of the same kind. */
    private static final String[] TEMPLATES = concat(EVAL_TEMPLATES, new String[]{
            "a product photo of a %s", "a close-up of a %s", "a grayscale image of a %s", "a low resolution photo of a %s",
            "a %s for sale", "a photo of my %s", "a centered photo of a %s", "the %s", "one %s", "a drawing of a %s",
            "a simple %s", "a %s seen from the front", "a catalog image of a %s", "a shop photo of a %s",
            "a %s on a white background", "this is a %s", "a nice %s", "a blurry photo of a %s"});

    /** Names per class, in FashionMnist.CLASSES order; the first is the class name the evaluation uses. */
    private static final String[][] NAMES = {
            {"t-shirt", "tee", "tee shirt", "top", "short sleeve top", "tank top"},
            {"trouser", "pair of trousers", "pair of pants", "pair of jeans", "pair of slacks", "pair of leggings"},
            {"pullover", "sweater", "jumper", "sweatshirt", "knit sweater", "hoodie"},
            {"dress", "gown", "sundress", "frock", "summer dress", "evening dress"},
            {"coat", "jacket", "overcoat", "parka", "winter coat", "trench coat"},
            {"sandal", "pair of sandals", "flip-flop", "slide sandal", "strappy sandal", "summer shoe"},
            {"shirt", "button-up shirt", "blouse", "dress shirt", "collared shirt", "flannel shirt"},
            {"sneaker", "pair of sneakers", "trainer", "running shoe", "tennis shoe", "sports shoe"},
            {"bag", "handbag", "purse", "tote bag", "backpack", "shoulder bag"},
            {"ankle boot", "boot", "pair of boots", "short boot", "chelsea boot", "leather boot"}};

    /** Attribute words that suit grayscale product photos of any class. */
    private static final String[] ATTRIBUTES = {"black", "white", "gray", "dark", "light", "striped", "plain", "patterned",
            "cotton", "leather", "wool", "denim", "loose", "fitted", "long", "short", "casual", "formal", "classic",
            "vintage", "modern", "small", "large", "soft", "new", "old"};

    private Captions() {}

    /**
     * A training caption for class {@code label}: template, name and (half the time) attribute, each drawn by
     * {@code nextInt} (a uniform int below its argument).
     */
    public static String random(int label, IntUnaryOperator nextInt) {
        String template = TEMPLATES[nextInt.applyAsInt(TEMPLATES.length)];
        String name = NAMES[label][nextInt.applyAsInt(NAMES[label].length)];
        int a = nextInt.applyAsInt(2 * ATTRIBUTES.length);
        return caption(template, a < ATTRIBUTES.length ? ATTRIBUTES[a] + " " + name : name);
    }

    /** Every training caption of class {@code label} (for the vocabulary the text encoder learns, and tests). */
    public static List<String> all(int label) {
        List<String> out = new ArrayList<>();
        for (String template : TEMPLATES) {
            for (String name : NAMES[label]) {
                out.add(caption(template, name));
                for (String attribute : ATTRIBUTES) out.add(caption(template, attribute + " " + name));
            }
        }
        return out;
    }

    /** The evaluation's prompt {@code template} (0–9) for class {@code label}, as v1–v7 were measured. */
    public static String evaluation(int label, int template) {
        return caption(EVAL_TEMPLATES[template], NAMES[label][0]);
    }

    /** An evaluation prompt for class {@code label}, its template drawn by {@code rng}. */
    public static String evaluation(int label, Random rng) {
        return evaluation(label, rng.nextInt(EVAL_TEMPLATES.length));
    }

    /** The prompt that shows class {@code label} in grids: "a photo of a …". */
    public static String prompt(int label) {
        return evaluation(label, 0);
    }

    private static String caption(String template, String phrase) {
        String text = String.format(template, phrase);
        return text.replace("a " + phrase, article(phrase) + " " + phrase);
    }

    private static String article(String phrase) {
        return "aeiou".indexOf(phrase.charAt(0)) >= 0 ? "an" : "a";
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
