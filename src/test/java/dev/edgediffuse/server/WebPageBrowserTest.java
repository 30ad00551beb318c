package dev.edgediffuse.server;

import dev.edgediffuse.format.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The web page in a real browser: headless Chromium (Debian's {@code chromium}; skipped without it) loads {@code /}
 * from a loopback server with two tiny random models, and the test uses the page as a person would (types the key,
 * connects, writes a prompt, presses Generate, then again side by side) through the Chrome DevTools Protocol. It
 * checks what shows: the step counter, the preview, the decoded image, its parameters, the history, and no console
 * errors; then that a setting the server refuses shows its message.
 * {@code -Dedgediffuse.webpage.screenshot=FILE} saves the final page as a PNG (docs/web-page.png);
 * {@code -Dedgediffuse.webpage.models=a=PATH,b=PATH}, {@code -Dedgediffuse.webpage.prompt=TEXT} and
 * {@code -Dedgediffuse.webpage.steps=N} serve other models and ask for another image for it.
 */
public class WebPageBrowserTest {
    @TempDir
    static Path dir;
    static EdgeServer server;
    static Process chromium;
    static Browser browser;

    /** Debian's Chromium, or the binary {@code -Dedgediffuse.chromium=PATH} names; null when there is none. */
    public static Path chromiumBinary() {
        String given = System.getProperty("edgediffuse.chromium");
        for (String p : given != null ? new String[]{given} : new String[]{"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
            if (Files.isExecutable(Path.of(p))) return Path.of(p);
        }
        return null;
    }

    @BeforeAll
    static void start() throws Exception {
        Path binary = chromiumBinary();
        if (binary == null) return; // the test is skipped (reported as such)
        Map<String, Path> models = new LinkedHashMap<>();
        String given = System.getProperty("edgediffuse.webpage.models", "");
        if (given.isEmpty()) {
            models.put("tiny-a", TestServers.model(dir, 7));
            models.put("tiny-b", TestServers.model(dir, 8));
        } else {
            for (String s : given.split(",")) models.put(s.substring(0, s.indexOf('=')), Path.of(s.substring(s.indexOf('=') + 1)));
        }
        server = TestServers.start(models, EdgeServer.Options.loopback(TestServers.KEY));
        Path profile = Files.createDirectories(dir.resolve("chromium-profile"));
        chromium = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--window-size=1280,1000",
                "--user-data-dir=" + profile, "--remote-debugging-port=0", "about:blank")
                .redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile()).start();
        browser = Browser.attach(profile.resolve("DevToolsActivePort"));
    }

    @AfterAll
    static void stop() {
        if (browser != null) browser.close();
        if (chromium != null) {
            chromium.destroy();
            try {
                if (!chromium.waitFor(10, TimeUnit.SECONDS)) chromium.destroyForcibly();
            } catch (InterruptedException e) {
                chromium.destroyForcibly();
            }
        }
        if (server != null) server.close();
    }

    @Test
    void aPersonGeneratesAnImageThenComparesTwoModels() throws Exception {
        assumeTrue(browser != null, "headless Chromium is not installed (apt-get install chromium)");
        browser.navigate(server.uri().resolve("/").toString());
        assertEquals("", browser.eval("document.getElementById('status').textContent"), "no key yet, so no request yet");
        browser.eval("document.getElementById('key').value = '" + TestServers.KEY + "'; document.getElementById('connect').click()");
        browser.waitFor("document.getElementById('status').textContent.startsWith('connected')", "the page connects with the key");
        assertEquals("connected: 2 models", browser.eval("document.getElementById('status').textContent"));
        assertEquals(2L, browser.eval("document.getElementById('model').options.length"));

        String prompt = System.getProperty("edgediffuse.webpage.prompt", "a photo of a sneaker");
        int steps = Integer.getInteger("edgediffuse.webpage.steps", 6);
        browser.eval("document.getElementById('prompt').value = " + Json.write(prompt) + ";"
                + "document.getElementById('steps').value = " + steps + "; document.getElementById('seed').value = 42;"
                + "document.getElementById('generate').click()");
        browser.waitFor("document.querySelector('.panel')?.dataset.state === 'done' || document.querySelector('.panel')?.dataset.state === 'error'",
                "the generation ends");
        assertEquals("", browser.eval("document.querySelector('.panel .error').textContent"));
        assertEquals("done", browser.eval("document.querySelector('.panel').dataset.state"));
        assertEquals("step " + steps + " / " + steps, browser.eval("document.querySelector('.panel .counter').textContent"), "the step counter reached the end");
        assertEquals(Boolean.TRUE, browser.eval("document.querySelector('.panel .preview').src.startsWith('data:image/png;base64,')"), "a preview was shown while denoising");
        assertImageShown(".panel .result");
        String params = (String) browser.eval("document.querySelector('.panel .params').textContent");
        assertTrue(params.startsWith(prompt) && params.contains("Steps: " + steps + ",") && params.contains("Seed: 42"), params);
        assertEquals(1L, browser.eval("document.querySelectorAll('#history img').length"));

        // two models side by side on one seed
        browser.eval("document.getElementById('compare').click(); document.getElementById('generate').click()");
        browser.waitFor("document.querySelectorAll('.panel').length === 2 && [...document.querySelectorAll('.panel')]"
                + ".every(p => p.dataset.state === 'done' || p.dataset.state === 'error')", "both generations end");
        List<?> panels = (List<?>) browser.eval("[...document.querySelectorAll('.panel')].map(p => p.dataset.state + ' ' + "
                + "p.querySelector('.params').textContent.split('\\n').pop())");
        assertEquals(2, panels.size());
        for (Object p : panels) assertTrue(p.toString().startsWith("done "), p.toString());
        List<?> shown = (List<?>) browser.eval("[...document.querySelectorAll('.panel .params')]"
                + ".map(p => p.textContent.match(/Seed: \\d+/)[0] + ', ' + p.textContent.match(/Model: [^,\\n]+/)[0])");
        List<String> served = List.copyOf(server.models().keySet());
        assertEquals(List.of("Seed: 42, Model: " + served.get(0), "Seed: 42, Model: " + served.get(1)), shown);
        assertImageShown(".panel:nth-child(2) .result");
        assertEquals(3L, browser.eval("document.querySelectorAll('#history img').length"), "every image of the session in the history");

        String shot = System.getProperty("edgediffuse.webpage.screenshot");
        if (shot != null) Files.write(Path.of(shot), browser.screenshot());
        assertEquals(List.of(), browser.consoleErrors, "console errors or uncaught exceptions");

        // a setting the server refuses: its one-line message in the panel, no image
        browser.eval("document.getElementById('compare').click(); document.getElementById('deepcache').value = 1;"
                + "document.getElementById('generate').click()");
        browser.waitFor("document.querySelector('.panel').dataset.state !== 'running'", "the refusal arrives");
        assertEquals("error", browser.eval("document.querySelector('.panel').dataset.state"));
        assertEquals("deepcache_interval must be >= 2, got 1", browser.eval("document.querySelector('.panel .error').textContent"));
        assertEquals(Boolean.TRUE, browser.eval("document.querySelector('.panel .result').hidden"));
        assertEquals(3L, browser.eval("document.querySelectorAll('#history img').length"), "a refusal adds nothing to the history");
        // Chromium itself logs the answer's 400 as a failed resource load; nothing else may appear
        for (String e : browser.consoleErrors) assertTrue(e.startsWith("network: ") && e.contains("status of 400"), e);
    }

    /** The image element is visible, loaded and decoded to its real size. */
    private static void assertImageShown(String selector) throws Exception {
        String q = "document.querySelector('" + selector + "')";
        assertEquals(Boolean.FALSE, browser.eval(q + ".hidden"));
        assertEquals(Boolean.TRUE, browser.eval(q + ".complete"));
        assertEquals(Boolean.TRUE, browser.eval(q + ".decode().then(() => " + q + ".naturalWidth > 0 && " + q + ".naturalHeight > 0)"));
        assertTrue(((Number) browser.eval(q + ".getBoundingClientRect().width")).doubleValue() > 50, "shown at a size a person can see");
    }

    /**
     * A minimal Chrome DevTools Protocol client over the JDK's WebSocket: commands, their answers, console errors (also
     * used by the compress report's browser test).
     */
    public static final class Browser implements WebSocket.Listener {
        private final AtomicInteger ids = new AtomicInteger();
        private final Map<Long, CompletableFuture<Map<String, Object>>> pending = new ConcurrentHashMap<>();
        private final List<CompletableFuture<Void>> loads = new CopyOnWriteArrayList<>();
        public final List<String> consoleErrors = new CopyOnWriteArrayList<>();
        private final StringBuilder partial = new StringBuilder();
        private WebSocket socket;

        public static Browser attach(Path activePort) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(activePort) || Files.readAllLines(activePort).size() < 2) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("Chromium did not open its DevTools port");
                Thread.sleep(50);
            }
            int port = Integer.parseInt(Files.readAllLines(activePort).getFirst().trim());
            HttpClient http = HttpClient.newHttpClient();
            String pageSocket = null;
            while (pageSocket == null) {
                String list = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/json/list")).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                for (Object t : (List<?>) Json.parse(list)) {
                    Map<?, ?> target = (Map<?, ?>) t;
                    if ("page".equals(target.get("type"))) pageSocket = (String) target.get("webSocketDebuggerUrl");
                }
                if (pageSocket == null) {
                    if (System.nanoTime() > deadline) throw new IllegalStateException("Chromium shows no page");
                    Thread.sleep(50);
                }
            }
            Browser b = new Browser();
            b.socket = http.newWebSocketBuilder().buildAsync(URI.create(pageSocket), b).get(30, TimeUnit.SECONDS);
            b.call("Runtime.enable", Map.of());
            b.call("Log.enable", Map.of());
            b.call("Page.enable", Map.of());
            return b;
        }

        Map<String, Object> call(String method, Map<String, Object> params) throws Exception {
            long id = ids.incrementAndGet();
            CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
            pending.put(id, answer);
            socket.sendText(Json.write(Map.of("id", id, "method", method, "params", params)), true).get(30, TimeUnit.SECONDS);
            Map<String, Object> m = answer.get(120, TimeUnit.SECONDS);
            if (m.containsKey("error")) throw new IllegalStateException(method + ": " + Json.write(m.get("error")));
            @SuppressWarnings("unchecked")
            Map<String, Object> result = (Map<String, Object>) m.get("result");
            return result;
        }

        public void navigate(String url) throws Exception {
            CompletableFuture<Void> loaded = new CompletableFuture<>();
            loads.add(loaded);
            call("Page.navigate", Map.of("url", url));
            loaded.get(60, TimeUnit.SECONDS);
        }

        /** The value of a JavaScript expression (promises awaited); a thrown exception fails the test. */
        public Object eval(String expression) throws Exception {
            Map<String, Object> r = call("Runtime.evaluate", Map.of("expression", expression, "returnByValue", true, "awaitPromise", true));
            if (r.containsKey("exceptionDetails")) fail("page script failed: " + Json.write(r.get("exceptionDetails")));
            return ((Map<?, ?>) r.get("result")).get("value");
        }

        public void waitFor(String condition, String what) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Boolean.TRUE.equals(eval("Boolean(" + condition + ")"))) {
                if (System.nanoTime() > deadline) fail("timed out waiting until " + what + "; console errors: " + consoleErrors);
                Thread.sleep(50);
            }
        }

        public byte[] screenshot() throws Exception {
            return Base64.getDecoder().decode((String) call("Page.captureScreenshot", Map.of("format", "png", "captureBeyondViewport", true)).get("data"));
        }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                received(partial.toString());
                partial.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @SuppressWarnings("unchecked")
        private void received(String text) {
            Map<String, Object> m = (Map<String, Object>) Json.parse(text);
            if (m.get("id") instanceof Long id) {
                CompletableFuture<Map<String, Object>> f = pending.remove(id);
                if (f != null) f.complete(m);
                return;
            }
            Map<String, Object> p = (Map<String, Object>) m.get("params");
            switch (String.valueOf(m.get("method"))) {
                case "Page.loadEventFired" -> loads.forEach(f -> f.complete(null));
                case "Runtime.exceptionThrown" -> consoleErrors.add("exception: " + Json.write(p.get("exceptionDetails")));
                case "Runtime.consoleAPICalled" -> {
                    if ("error".equals(p.get("type")) || "assert".equals(p.get("type"))) consoleErrors.add("console." + p.get("type") + ": " + Json.write(p.get("args")));
                }
                case "Log.entryAdded" -> {
                    Map<?, ?> entry = (Map<?, ?>) p.get("entry");
                    if ("error".equals(entry.get("level"))) consoleErrors.add(entry.get("source") + ": " + entry.get("text") + " " + entry.get("url"));
                }
                default -> { }
            }
        }

        public void close() {
            try {
                socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // the browser is stopped next either way
            }
        }
    }
}
