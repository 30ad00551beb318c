package dev.edgediffuse.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Notices a client that hung up while its request is being computed. HTTP/1.1 does not read the socket while a
 * handler runs, so this tries a one-byte non-blocking read on the connection: -1 (or an error) means the peer closed.
 * A client that sends more bytes meanwhile (pipelining, which HTTP clients do not do for POSTs) stops the probing,
 * and the connection is closed after the response so the consumed byte cannot corrupt a next request.
 */
final class ClientProbe {
    private final EndPoint endPoint;
    private final Response response;
    private boolean disabled;

    ClientProbe(Request req, Response res) {
        this.endPoint = req.getConnectionMetaData().getConnection().getEndPoint();
        this.response = res;
    }

    boolean gone() {
        if (disabled) return false;
        if (!endPoint.isOpen() || endPoint.isInputShutdown()) return true;
        try {
            ByteBuffer one = BufferUtil.allocate(1);
            int n = endPoint.fill(one);
            if (n < 0) return true;
            if (n > 0) {
                disabled = true;
                response.getHeaders().put(HttpHeader.CONNECTION, "close");
            }
            return false;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }
}
