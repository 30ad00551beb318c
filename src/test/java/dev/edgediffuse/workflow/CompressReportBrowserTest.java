package dev.edgediffuse.workflow;

import dev.edgediffuse.cli.MainRunner;
import dev.edgediffuse.server.WebPageBrowserTest;
import dev.edgediffuse.server.WebPageBrowserTest.Browser;
import dev.edgediffuse.testing.TinyCheckpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The compress report in a real browser: headless Chromium (skipped without it) opens the HTML file a tiny compress
 * run wrote, and the test checks what a person sees: the headline, both charts drawn (SVG with the points and the
 * front), every grid image decoded, and no console errors. {@code -Dedgediffuse.report.html=FILE} checks another
 * report instead; {@code -Dedgediffuse.report.screenshot=FILE} saves the page as a PNG (docs/compress-report.png).
 */
class CompressReportBrowserTest {
    @TempDir
    static Path dir;
    static Process chromium;
    static Browser browser;
    static Path html, profile;

    @BeforeAll
    static void start() throws Exception {
        Path binary = WebPageBrowserTest.chromiumBinary();
        if (binary == null) return;
        String given = System.getProperty("edgediffuse.report.html");
        if (given != null) {
            html = Path.of(given).toAbsolutePath();
        } else {
            Path model = TinyCheckpoints.write(dir).folder(), recipe = dir.resolve("r.json"), out = dir.resolve("out");
            Files.writeString(recipe, """
                    {"name": "browser", "stages": [{"stage": "speedups", "steps": 3, "scheduler": "euler"},
                      {"stage": "quantize", "weights": "q8"}],
                     "report": {"quality": "fidelity", "size": 64, "prompts": ["a red fox", "a blue car"], "seeds": [0],
                      "warmup_seconds": 0, "timed_seconds": 0}}""");
            MainRunner.Run r = MainRunner.run("compress", "--recipe", recipe.toString(), "--model", model.toString(), "--out", out.toString(), "--quiet");
            assertEquals(0, r.code(), r.err());
            html = out.resolve(CompressReport.HTML);
        }
        // outside the @TempDir: Chromium's helpers may still write to it while JUnit deletes that (deleted quietly in stop)
        profile = Files.createTempDirectory("edgediffuse-report-chromium");
        chromium = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--window-size=1300,1000",
                "--user-data-dir=" + profile, "--remote-debugging-port=0", "about:blank")
                .redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile()).start();
        browser = Browser.attach(profile.resolve("DevToolsActivePort"));
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (browser != null) browser.close();
        if (chromium != null) {
            List<ProcessHandle> helpers = chromium.descendants().toList();
            chromium.destroy();
            if (!chromium.waitFor(10, TimeUnit.SECONDS)) chromium.destroyForcibly();
            for (ProcessHandle h : helpers) {
                h.destroy();
                try {
                    h.onExit().get(10, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    h.destroyForcibly();
                }
            }
        }
        if (profile != null) dev.edgediffuse.format.AtomicFiles.deleteTree(profile);
    }

    @Test
    void aPersonSeesTheHeadlineTheChartsAndTheImages() throws Exception {
        assumeTrue(browser != null, "headless Chromium is not installed (apt-get install chromium)");
        browser.navigate(html.toUri().toString());
        String headline = (String) browser.eval("document.getElementById('headline').textContent");
        assertTrue(headline.matches("(?s).*\\d\\.\\d\\d× smaller .* \\d\\.\\d\\d× (faster|slower) .*"), headline);
        assertEquals(2L, browser.eval("window.reportCharts.length"), "both charts made");
        for (String id : List.of("chart-size", "chart-latency")) {
            String q = "document.querySelector('#" + id + " svg')";
            assertEquals(Boolean.TRUE, browser.eval(q + " !== null"), id + " drawn as SVG");
            long paths = ((Number) browser.eval(q + ".querySelectorAll('path').length")).longValue();
            long variants = ((Number) browser.eval("JSON.parse(document.getElementById('report-data').textContent).variants.length")).longValue();
            assertTrue(paths >= variants + 1, id + ": a mark per variant and the front's line, got " + paths + " paths");
            String text = (String) browser.eval(q + ".textContent");
            assertTrue(text.contains("original"), id + " labels its points: " + text);
            assertTrue(((Number) browser.eval(q + ".getBoundingClientRect().width")).doubleValue() > 300, id + " at a readable size");
        }
        long images = ((Number) browser.eval("document.querySelectorAll('#grid img').length")).longValue();
        assertTrue(images >= 2, "grid images: " + images);
        assertEquals(Boolean.TRUE, browser.eval("Promise.all([...document.querySelectorAll('#grid img')].map(i => i.decode()))"
                + ".then(() => [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0))"), "every image decodes");
        String shot = System.getProperty("edgediffuse.report.screenshot");
        if (shot != null) Files.write(Path.of(shot), browser.screenshot());
        assertEquals(List.of(), browser.consoleErrors, "console errors or uncaught exceptions");
    }
}
