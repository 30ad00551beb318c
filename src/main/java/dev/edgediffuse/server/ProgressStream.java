package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.pipeline.GenerateRequest;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@code POST /v1/images/stream}: one image of a txt2img body, answered as server-sent events while it is made:
 * {@code queued} (model, seed, total steps), one {@code progress} per step in order (step, total, and unless
 * {@code "preview": false} a {@link LatentPreview} as a data URL), then {@code image} (the PNG, its parameters and
 * infotext) or {@code error} (the JSON error the other endpoints answer). Bad requests and a full queue are answered
 * before the stream starts, as plain JSON errors. The web page reads it with fetch, so it sends the API key as a header.
 */
final class ProgressStream {
    /** A comment line this often keeps proxies and the client's reader from thinking the stream died while queued. */
    private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(2);

    private ProgressStream() {}

    static void handle(ApiHandler api, Request req, Response res, Callback cb, byte[] body) {
        Fields f = Fields.parse(body);
        if (f.int32("batch_size", 1) != 1 || f.int32("n_iter", 1) != 1) {
            throw ApiError.badRequest("the stream makes one image: batch_size and n_iter must be 1");
        }
        boolean preview = f.bool("preview", true);
        ImageEndpoints.A1111Request parsed = ImageEndpoints.a1111Request(api, f);
        Batcher model = parsed.model();
        GenerateRequest g = parsed.request();
        BlockingQueue<Job.Step> steps = new LinkedBlockingQueue<>();
        Job job = new Job(g, g.steps(), true, api.limitsTimeoutNanos(), steps::add);
        EdgeServer server = api.server();
        server.admission.enter(1);
        long t0 = System.nanoTime();
        boolean ok = false;
        try {
            req.addFailureListener(failure -> job.cancel("client disconnected"));
            model.submit(job);
            res.setStatus(200);
            res.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
            res.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
            res.getHeaders().put("X-Accel-Buffering", "no"); // nginx: pass events on as they come
            Map<String, Object> queued = new LinkedHashMap<>();
            queued.put("model", model.name);
            queued.put("seed", g.seed());
            queued.put("total", (long) g.steps());
            write(res, job, event("queued", queued));
            follow(res, job, steps, preview, api.limitsTimeoutNanos());
            String last = finished(job, model);
            ok = true;
            res.write(true, utf8(last), cb);
        } finally {
            job.cancel("stream ended"); // harmless once done; stops the job when the stream failed first
            server.admission.leave(1, ok ? (System.nanoTime() - t0) / 1e9 : 0);
        }
    }

    /** Writes each step's event as the worker reports it, until the job is done (or times out). */
    private static void follow(Response res, Job job, BlockingQueue<Job.Step> steps, boolean preview, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos + TimeUnit.SECONDS.toNanos(2);
        long lastWrite = System.nanoTime();
        List<Job.Step> ready = new ArrayList<>();
        while (true) {
            boolean done = job.done.isDone(); // read before draining: a done job's steps are all queued by then
            try {
                Job.Step first = done ? steps.poll() : steps.poll(100, TimeUnit.MILLISECONDS);
                if (first != null) ready.add(first);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                job.cancel("server stopping");
                throw new ApiError(503, "server is shutting down", 5);
            }
            steps.drainTo(ready);
            for (int i = 0; i < ready.size(); i++) {
                // a client behind by several steps gets every counter but only the newest preview
                write(res, job, progress(ready.get(i), preview && i == ready.size() - 1));
                lastWrite = System.nanoTime();
            }
            ready.clear();
            if (done) return;
            if (System.nanoTime() - deadline > 0) {
                job.cancel("timed out");
                throw new ApiError(504, "request timed out on the server");
            }
            if (System.nanoTime() - lastWrite > KEEP_ALIVE_NANOS) {
                write(res, job, ": waiting\n\n");
                lastWrite = System.nanoTime();
            }
        }
    }

    /** The last event: the image, or the error the job ended with. */
    private static String finished(Job job, Batcher model) {
        try {
            job.done.get();
        } catch (ExecutionException e) {
            ApiError a = e.getCause() instanceof ApiError x ? x : new ApiError(500, "internal error");
            Map<String, Object> err = new LinkedHashMap<>();
            err.put("message", a.getMessage());
            err.put("code", (long) a.status);
            return event("error", Map.of("error", err));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiError(503, "server is shutting down", 5);
        }
        String text = job.request.parametersText(model.name);
        Map<String, Object> image = new LinkedHashMap<>();
        image.put("image", ImageEndpoints.png(job, text));
        image.put("parameters", ImageEndpoints.parameters(job.request, model));
        image.put("info", text);
        image.put("seconds", job.finishedSeconds);
        return event("image", image);
    }

    private static String progress(Job.Step s, boolean withPreview) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", (long) s.done());
        m.put("total", (long) s.total());
        if (withPreview) {
            int[] shape = s.latentShape();
            byte[] png = LatentPreview.png(s.latents(), shape[0], shape[1], shape[2]);
            m.put("preview", "data:image/png;base64," + Base64.getEncoder().encodeToString(png));
        }
        return event("progress", m);
    }

    static String event(String name, Object data) {
        return "event: " + name + "\ndata: " + Json.write(data) + "\n\n";
    }

    private static ByteBuffer utf8(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    /** A blocking write; a client that went away cancels the job. */
    private static void write(Response res, Job job, String text) {
        try (Blocker.Callback b = Blocker.callback()) {
            res.write(false, utf8(text), b);
            b.block();
        } catch (IOException e) {
            job.cancel("client disconnected");
            throw new ApiError(499, "client disconnected");
        }
    }
}
