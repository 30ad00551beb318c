package dev.edgediffuse.hybrid;

import dev.edgediffuse.pipeline.DenoiseSession;
import dev.edgediffuse.pipeline.Denoiser;
import dev.edgediffuse.pipeline.GenerateRequest;

import java.util.ArrayList;
import java.util.List;

/**
 * Hybrid SD's split on one machine: a teacher runs the first {@code k} steps of each request and a student the rest,
 * on the same sessions: the teacher's sessions are handed over as the server's are ({@link Denoiser#resume} from
 * the scheduler state, latents and noise position), so the trajectory is the one a device gets from the real server.
 * The student encodes the prompt with its own text encoder and decodes with its own VAE (or the one it was opened
 * with). Used by {@code eval --hybrid-teacher} for Hybrid SD's table and by {@code generate --hybrid-teacher}.
 */
public final class LocalSplit {
    /** The student's sessions (done), and the UNet seconds of each side summed over its steps (one call per step). */
    public record Result(List<DenoiseSession> sessions, double teacherUnetSeconds, double studentUnetSeconds) {}

    private LocalSplit() {}

    /** The two models must share a latent space: a one-line error otherwise. */
    public static void check(Denoiser teacher, Denoiser student) {
        if (teacher.latentChannels() != student.latentChannels() || !teacher.latentSpace().sameAs(student.latentSpace())) {
            throw new IllegalArgumentException("the teacher and the student have different latent spaces (" + teacher.modelName() + ": "
                    + teacher.latentChannels() + " channels " + teacher.latentSpace() + ", " + student.modelName() + ": "
                    + student.latentChannels() + " channels " + student.latentSpace() + "): a hybrid run needs the same VAE latents");
        }
    }

    public static Result run(Denoiser teacher, Denoiser student, List<GenerateRequest> requests, int teacherSteps) {
        check(teacher, student);
        int steps = requests.getFirst().steps();
        if (teacherSteps < 0 || teacherSteps > steps) {
            throw new IllegalArgumentException("the teacher's steps must be in 0.." + steps + ", got " + teacherSteps);
        }
        List<DenoiseSession> sessions = new ArrayList<>();
        double teacherSeconds = 0;
        if (teacherSteps == 0) {
            for (GenerateRequest r : requests) sessions.add(student.start(r));
        } else {
            List<DenoiseSession> onTeacher = new ArrayList<>();
            for (GenerateRequest r : requests) onTeacher.add(teacher.start(r));
            for (int i = 0; i < teacherSteps; i++) teacher.step(onTeacher);
            teacherSeconds = sum(onTeacher.getFirst().stepSeconds());
            for (DenoiseSession s : onTeacher) {
                sessions.add(student.resume(s.request(), s.schedulerState(), s.latents(), s.noiseDraws(), null));
            }
        }
        student.run(sessions, null);
        double studentSeconds = sum(sessions.getFirst().stepSeconds());
        return new Result(sessions, teacherSeconds, studentSeconds);
    }

    private static double sum(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s;
    }
}
