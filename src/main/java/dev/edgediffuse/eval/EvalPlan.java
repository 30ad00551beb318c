package dev.edgediffuse.eval;

import dev.edgediffuse.data.Captions;
import dev.edgediffuse.data.FashionMnist;
import dev.edgediffuse.data.HeldOutPrompts;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * What an evaluation generates: image i asks for class i mod 10 with a caption template drawn from a generator
 * seeded by {@code seed}, and is itself generated with seed {@code seed + i}. The plan depends only on (samples, seed),
 * so a model and its reference get identical prompts and seeds, and image i can be reproduced on its own with
 * {@code edgediffuse generate --prompt P --seed S}.
 */
public record EvalPlan(List<Job> jobs, long seed) {
    public record Job(int index, int label, String prompt, long seed) {}

    public static EvalPlan of(int samples, long seed) {
        if (samples < 1) throw new IllegalArgumentException("--samples must be >= 1, got " + samples);
        Random templates = new Random(seed);
        List<Job> jobs = new ArrayList<>(samples);
        int classes = FashionMnist.CLASSES.length;
        for (int i = 0; i < samples; i++) {
            int label = i % classes;
            jobs.add(new Job(i, label, Captions.evaluation(label, templates), seed + i));
        }
        return new EvalPlan(List.copyOf(jobs), seed);
    }

    /** Seeds of held-out jobs start this far past the plan's seed, apart from the template jobs' seeds. */
    public static final long HELD_OUT_SEED_OFFSET = 1_000_000;

    /**
     * {@code images} jobs cycling over the held-out everyday prompts ({@link HeldOutPrompts}) in order, image i with seed
     * {@code seed + HELD_OUT_SEED_OFFSET + i}.
     */
    public static EvalPlan heldOut(int images, long seed) {
        var prompts = HeldOutPrompts.all();
        List<Job> jobs = new ArrayList<>(images);
        for (int i = 0; i < images; i++) {
            HeldOutPrompts.Prompt p = prompts.get(i % prompts.size());
            jobs.add(new Job(i, p.label(), p.text(), seed + HELD_OUT_SEED_OFFSET + i));
        }
        return new EvalPlan(List.copyOf(jobs), seed);
    }

    /**
     * {@code images} jobs cycling over given (label, prompt) pairs in order (e.g. a TSV of another domain's prompts for
     * its own classifier), image i with seed {@code seed + i}.
     */
    public static EvalPlan ofPrompts(List<HeldOutPrompts.Prompt> prompts, int images, long seed) {
        if (prompts.isEmpty()) throw new IllegalArgumentException("no prompts to evaluate");
        List<Job> jobs = new ArrayList<>(images);
        for (int i = 0; i < images; i++) {
            HeldOutPrompts.Prompt p = prompts.get(i % prompts.size());
            jobs.add(new Job(i, p.label(), p.text(), seed + i));
        }
        return new EvalPlan(List.copyOf(jobs), seed);
    }

    public int size() {
        return jobs.size();
    }

    public int[] labels() {
        int[] l = new int[jobs.size()];
        for (int i = 0; i < l.length; i++) l[i] = jobs.get(i).label();
        return l;
    }
}
