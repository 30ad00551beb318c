package dev.edgediffuse.workflow;

import dev.edgediffuse.format.Json;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * The report as one self-contained HTML page: the headline, the variants' table, two Apache ECharts scatter plots
 * (quality against size and against UNet time, the Pareto front drawn as a line), the side-by-side grid (PNG data
 * URIs), the per-layer format map and the commands. ECharts' minified build is inlined from its webjar on the class
 * path, with its license and notice; the page's data is the report JSON, embedded as is.
 */
final class HtmlReport {
    private static final String ECHARTS = "META-INF/resources/webjars/echarts/5.3.1/";

    private HtmlReport() {}

    @SuppressWarnings("unchecked")
    static String render(Map<String, Object> report, List<List<Path>> grids) {
        List<Map<String, Object>> variants = (List<Map<String, Object>>) report.get("variants");
        Map<String, Object> h = (Map<String, Object>) report.get("headline");
        Map<String, Object> settings = (Map<String, Object>) report.get("settings");
        boolean fashion = "fashion-mnist".equals(settings.get("quality"));
        StringBuilder b = new StringBuilder(1 << 20);
        b.append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>compress report: ").append(esc(report.get("recipe")))
                .append("</title>\n<style>").append(CSS).append("</style></head><body>\n");
        b.append("<h1>Compress report: ").append(esc(report.get("recipe"))).append("</h1>\n");
        if (!String.valueOf(report.get("description")).isEmpty()) b.append("<p class=\"desc\">").append(esc(report.get("description"))).append("</p>\n");
        b.append("<p class=\"headline\" id=\"headline\">").append(esc(h.get("sentence"))).append("</p>\n");
        b.append("<table class=\"big\"><tr><th>smaller (all weights)</th><th>UNet faster per image</th><th>peak memory</th><th>")
                .append(fashion ? "FID (lower is better)" : "images vs original").append("</th></tr><tr>");
        b.append(td(fmt("%.2f×", h.get("smaller")))).append(td(fmt("%.2f×", h.get("faster_unet_per_image"))))
                .append(td(fmt("%.2f× of the original's", h.get("peak_rss_ratio"))));
        if (fashion) b.append(td(fmt("%.3f → ", h.get("fid_before")) + fmt("%.3f", h.get("fid_after")) + fmt(" (%+.1f%%)", pct(h.get("fid_change")))));
        else b.append(td(fmt("PSNR %.1f dB", h.get("grid_psnr_db")) + fmt(", SSIM %.3f", h.get("grid_ssim"))));
        b.append("</tr></table>\n<p class=\"small\">Model ").append(esc(report.get("model"))).append(", recipe ").append(esc(report.get("recipe_file")))
                .append(". Made by <code>").append(esc(report.get("command"))).append("</code>.</p>\n");

        b.append("<h2>Variants</h2>\n<table id=\"variants\"><tr><th>variant</th><th>size MiB</th><th>UNet MiB</th><th>UNet s/step</th>"
                + "<th>steps</th><th>UNet s/image</th><th>peak RSS MiB</th>");
        if (fashion) b.append("<th>FID</th><th>prompt accuracy</th><th>PSNR dB vs original</th><th>SSIM</th><th>class changes</th>");
        else b.append("<th>grid PSNR dB vs original</th><th>grid SSIM</th>");
        b.append("<th>sampling</th></tr>\n");
        for (Map<String, Object> v : variants) {
            Map<String, Object> sampling = (Map<String, Object>) v.get("sampling");
            b.append("<tr><td>").append(esc(v.get("label"))).append("</td>").append(td(fmt("%.2f", v.get("size_mib"))))
                    .append(td(fmt("%.2f", v.get("unet_mib")))).append(td(fmt("%.4f", v.get("unet_s_per_step")))).append(td(fmt("%.0f", v.get("steps"))))
                    .append(td(fmt("%.3f", v.get("unet_s_per_image")))).append(td(fmt("%.0f", v.get("peak_rss_mib"))));
            if (fashion) {
                b.append(td(fmt("%.3f", v.get("fid")))).append(td(fmt("%.1f%%", pct(v.get("prompt_accuracy"))))).append(td(fmt("%.1f", v.get("psnr_db"))))
                        .append(td(fmt("%.3f", v.get("ssim")))).append(td(fmt("%.1f%%", pct(v.get("class_change")))));
            } else {
                b.append(td(fmt("%.1f", v.get("grid_psnr_db")))).append(td(fmt("%.3f", v.get("grid_ssim"))));
            }
            b.append("<td class=\"small\">").append(esc(sampling == null ? "" : Json.write(sampling))).append("</td></tr>\n");
        }
        b.append("</table>\n<p class=\"small\">UNet time: one image at the model's own sampling defaults (speed-ups included), after "
                + "a warm-up image, in a fresh JVM whose peak resident memory is the peak RSS; s/step is the mean over the image's steps.")
                .append(fashion ? " FID and prompt accuracy: eval's Fashion-MNIST judge on " + settings.get("samples") + " images; PSNR, SSIM and "
                        + "class changes against the original on the same prompts, seeds and noise." : " PSNR and SSIM: the grid's images "
                        + "against the original's (same prompts, seeds, noise).").append("</p>\n");

        String metric = fashion ? "FID (lower is better)" : "SSIM vs original (higher is better)";
        b.append("<h2>Quality against size and latency</h2>\n<p class=\"small\">Each point a variant; the ringed points, joined by the dashed line, are the Pareto front (")
                .append(metric).append(").</p>\n<div class=\"charts\"><div id=\"chart-size\" class=\"chart\"></div>"
                        + "<div id=\"chart-latency\" class=\"chart\"></div></div>\n");

        b.append("<h2>Side by side</h2>\n<p class=\"small\">The same prompts and seeds (and so the same initial noise) for every variant, each at its "
                + "own sampling defaults.</p>\n<table id=\"grid\"><tr><th>prompt, seed</th>");
        for (Map<String, Object> v : variants) b.append("<th>").append(esc(v.get("label"))).append("</th>");
        b.append("</tr>\n");
        List<String> prompts = (List<String>) settings.get("prompts");
        List<Object> seeds = (List<Object>) settings.get("seeds");
        int rows = prompts.size() * seeds.size();
        for (int r = 0; r < rows; r++) {
            b.append("<tr><td class=\"small\">").append(esc(prompts.get(r / seeds.size()))).append(", seed ").append(seeds.get(r % seeds.size())).append("</td>");
            for (List<Path> g : grids) {
                b.append("<td><img alt=\"\" src=\"data:image/png;base64,").append(r < g.size() ? base64(g.get(r)) : "").append("\"></td>");
            }
            b.append("</tr>\n");
        }
        b.append("</table>\n");

        b.append("<h2>Per-layer weight formats</h2>\n<table id=\"formats\"><tr><th>variant</th><th>UNet layers per format</th></tr>\n");
        TreeSet<String> layers = new TreeSet<>();
        for (Map<String, Object> v : variants) {
            b.append("<tr><td>").append(esc(v.get("label"))).append("</td><td>");
            ((Map<String, Object>) v.get("unet_formats")).forEach((f, n) -> b.append("<span class=\"f ").append(cls(f)).append("\">").append(esc(f))
                    .append("</span> ").append(n).append(" &nbsp; "));
            b.append("</td></tr>\n");
            layers.addAll(((Map<String, Object>) v.get("layer_formats")).keySet());
        }
        b.append("</table>\n<details><summary>every UNet layer (").append(layers.size()).append(")</summary><table class=\"map\"><tr><th>layer</th>");
        for (Map<String, Object> v : variants) b.append("<th>").append(esc(v.get("label"))).append("</th>");
        b.append("</tr>\n");
        for (String layer : layers) {
            b.append("<tr><td class=\"small\">").append(esc(layer)).append("</td>");
            for (Map<String, Object> v : variants) {
                Object f = ((Map<String, Object>) v.get("layer_formats")).get(layer);
                b.append(f == null ? "<td class=\"small\">(removed)</td>" : "<td class=\"f " + cls(f.toString()) + "\">" + esc(f) + "</td>");
            }
            b.append("</tr>\n");
        }
        b.append("</table></details>\n");

        b.append("<h2>Stages</h2>\n<table id=\"stages\"><tr><th>#</th><th>stage</th><th>settings</th><th>seconds</th><th>this run</th><th>key</th></tr>\n");
        for (Map<String, Object> st : (List<Map<String, Object>>) report.get("stages")) {
            Map<String, Object> spec = new java.util.LinkedHashMap<>((Map<String, Object>) st.get("spec"));
            spec.remove("stage");
            b.append("<tr>").append(td(st.get("index"))).append("<td>").append(esc(st.get("stage"))).append("</td><td class=\"small\">")
                    .append(esc(Json.write(spec))).append("</td>").append(td(fmt("%.1f", st.get("seconds"))))
                    .append(td(Boolean.TRUE.equals(st.get("cached")) ? "cached" : "ran")).append("<td class=\"small\">")
                    .append(esc(String.valueOf(st.get("key")).substring(0, 12))).append(Boolean.TRUE.equals(st.get("new_model")) ? "" : " (no new model)")
                    .append("</td></tr>\n");
        }
        b.append("</table>\n");

        b.append("<h2>Commands that reproduce each figure</h2>\n<pre>").append(esc("# the whole run (stages cached in its work folder)\n" + report.get("command")))
                .append('\n');
        for (Map<String, Object> v : variants) {
            b.append(esc("\n# " + v.get("label") + "\n"));
            ((Map<String, Object>) v.get("commands")).forEach((k, c) -> b.append(esc("#   " + k + ":\n" + c + "\n")));
        }
        b.append("</pre>\n");

        b.append("<script type=\"application/json\" id=\"report-data\">").append(Json.write(report).replace("</", "<\\/")).append("</script>\n");
        b.append("<!-- Apache ECharts 5.3.1 (Apache License 2.0), inlined; its NOTICE and LICENSE follow this page's scripts -->\n<script>")
                .append(resource(ECHARTS + "dist/echarts.common.min.js").replace("</script", "<\\/script")).append("</script>\n");
        b.append("<script>").append(CHARTS).append("</script>\n");
        b.append("<footer class=\"small\">Charts: Apache ECharts 5.3.1, Apache License 2.0 (notice and license in this file's source). "
                + "Made by EdgeDiffuse <code>compress</code>.</footer>\n");
        b.append("<!--\n").append(resource(ECHARTS + "NOTICE").replace("--", "- -")).append("\n\n")
                .append(resource(ECHARTS + "LICENSE").replace("--", "- -")).append("\n-->\n</body></html>\n");
        return b.toString();
    }

    private static final String CSS = """
            body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
            h1{font-size:22px}h2{font-size:18px;margin-top:28px}
            .headline{font-size:17px;background:#eef6ee;border-left:4px solid #3a3;padding:10px 14px}
            table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
            table.big td{font-size:20px;font-weight:600}.small{font-size:12px;color:#555}.desc{color:#444}
            .charts{display:flex;flex-wrap:wrap;gap:16px}.chart{width:620px;height:420px;border:1px solid #ddd}
            #grid img{image-rendering:pixelated;width:96px;height:96px}
            .f{padding:1px 5px;border-radius:3px}.f16,.bf16,.f32{background:#dde8f8}.q8{background:#e2f3dc}.q4{background:#fbe3c8}
            pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}
            """;

    /** Builds the two scatter plots from the embedded report data. */
    private static final String CHARTS = """
            (function(){
              var r=JSON.parse(document.getElementById('report-data').textContent);
              var fashion=r.settings.quality==='fashion-mnist';
              var yName=fashion?'FID (lower is better)':'SSIM vs original (higher is better)';
              function q(v,i){return fashion?v.fid:(i===0?1:v.grid_ssim);}
              function chart(id,xKey,xName,front){
                var pts=r.variants.map(function(v,i){return {name:v.label,value:[v[xKey],q(v,i)]};});
                var line=front.map(function(l){return pts.filter(function(p){return p.name===l;})[0].value;});
                var c=echarts.init(document.getElementById(id),null,{renderer:'svg'});
                c.setOption({animation:false,title:{text:yName.split(' (')[0]+' against '+xName,left:'center',textStyle:{fontSize:14}},
                  tooltip:{trigger:'item',formatter:function(p){return p.name+'<br>'+xName+': '+p.value[0].toPrecision(4)+'<br>'+yName+': '+p.value[1].toPrecision(4);}},
                  legend:{bottom:0,data:['variants','Pareto front']},
                  grid:{left:70,right:30,top:50,bottom:70},
                  xAxis:{type:'value',name:xName,nameLocation:'middle',nameGap:28,scale:true},
                  yAxis:{type:'value',name:yName,nameLocation:'middle',nameGap:50,scale:true,inverse:fashion},
                  series:[{name:'Pareto front',type:'line',data:line,symbol:'emptyCircle',symbolSize:22,itemStyle:{color:'#3a3'},lineStyle:{type:'dashed',color:'#3a3'}},
                    {name:'variants',type:'scatter',symbolSize:12,data:pts,label:{show:true,position:'right',formatter:'{b}'}}]});
                return c;
              }
              window.reportCharts=[chart('chart-size','size_mib','size (MiB, all weights)',r.pareto.size),
                chart('chart-latency','unet_s_per_image','UNet seconds per image',r.pareto.latency)];
            })();
            """;

    private static String cls(String format) {
        return format.startsWith("q8") ? "q8" : format.startsWith("q4") ? "q4" : format.replaceAll("[^a-z0-9]", "");
    }

    private static String td(Object v) {
        return "<td>" + esc(v) + "</td>";
    }

    private static Object pct(Object v) {
        return v instanceof Number n ? 100 * n.doubleValue() : null;
    }

    private static String fmt(String f, Object v) {
        return v instanceof Number n && !Double.isNaN(n.doubleValue()) ? String.format(Locale.ROOT, f, n.doubleValue()) : "–";
    }

    static String esc(Object o) {
        return String.valueOf(o).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static String base64(Path png) {
        try {
            return Base64.getEncoder().encodeToString(Files.readAllBytes(png));
        } catch (IOException e) {
            throw new UncheckedIOException(png + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static String resource(String name) {
        try (InputStream in = HtmlReport.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is not on the class path (the org.webjars.npm:echarts jar)");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
