package dev.edgediffuse.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The browser page at {@code /} (HTML, script and style shipped in the jar under {@code dev/edgediffuse/web/}). The
 * files hold no secrets and are served without the key; the page asks for the key and sends it with every API call,
 * as any other client does. A strict Content-Security-Policy allows only this server's own script and style.
 */
final class WebPage {
    private record Asset(String type, byte[] bytes) {}

    private static final Map<String, Asset> ASSETS = Map.of(
            "/", load("index.html", "text/html; charset=utf-8"),
            "/app.js", load("app.js", "text/javascript; charset=utf-8"),
            "/app.css", load("app.css", "text/css; charset=utf-8"));

    private static final String POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    private WebPage() {}

    static boolean serves(String path) {
        return ASSETS.containsKey(path);
    }

    static void send(String path, Response res, Callback cb) {
        Asset a = ASSETS.get(path);
        res.getHeaders().put("Content-Security-Policy", POLICY);
        res.getHeaders().put("X-Content-Type-Options", "nosniff");
        res.getHeaders().put("Referrer-Policy", "no-referrer");
        ApiHandler.send(res, cb, 200, a.type(), a.bytes());
    }

    private static Asset load(String name, String type) {
        try (InputStream in = WebPage.class.getResourceAsStream("/dev/edgediffuse/web/" + name)) {
            if (in == null) throw new IllegalStateException("the jar lacks dev/edgediffuse/web/" + name);
            return new Asset(type, in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
