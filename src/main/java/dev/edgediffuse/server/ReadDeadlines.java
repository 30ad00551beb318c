package dev.edgediffuse.server;

import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.util.thread.Scheduler;

import java.io.PrintStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A request's head and body must arrive within one deadline, counted from the connection's opening or its previous
 * response. Jetty's idle timeout restarts with every byte, so a client dribbling a byte every few seconds would hold
 * a connection (and, while its body is read, a thread) for ever; here it is closed when the deadline passes. The
 * deadline is lifted once the whole request is in (computing an image may take minutes) and set again when the
 * response is done, so it also bounds how long a keep-alive connection may sit idle.
 */
final class ReadDeadlines implements Connection.Listener {
    private final Scheduler scheduler;
    private final long millis;
    private final PrintStream log;
    private final Map<Connection, Scheduler.Task> armed = new ConcurrentHashMap<>();

    ReadDeadlines(Scheduler scheduler, long millis, PrintStream log) {
        this.scheduler = scheduler;
        this.millis = millis;
        this.log = log;
    }

    @Override
    public void onOpened(Connection c) {
        arm(c);
    }

    @Override
    public void onClosed(Connection c) {
        disarm(c);
    }

    /** Starts the clock for the connection's next request. */
    void arm(Connection c) {
        Scheduler.Task t = scheduler.schedule(() -> expire(c), millis, TimeUnit.MILLISECONDS);
        Scheduler.Task old = armed.put(c, t);
        if (old != null) old.cancel();
        if (!c.getEndPoint().isOpen()) disarm(c); // closed meanwhile: onClosed may have run before the put
    }

    /** The request is in. */
    void disarm(Connection c) {
        Scheduler.Task t = armed.remove(c);
        if (t != null) t.cancel();
    }

    private void expire(Connection c) {
        if (armed.remove(c) == null) return;
        log.println("edgediffuse serve: closed a connection from " + c.getEndPoint().getRemoteSocketAddress()
                + ": its request did not arrive within " + millis / 1000.0 + " s");
        c.getEndPoint().close();
    }
}
