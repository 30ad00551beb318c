package dev.edgediffuse.tools;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.labels.XYItemLabelGenerator;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Draws the quantization comparison charts of docs/quantization.md from the measured figures: one PNG per model,
 * quality (PSNR against f16) over storage bits per weight, one point per method. Input: a TSV of
 * {@code chart<TAB>method<TAB>bits<TAB>psnr} rows (# comments). Run by tools/quantization-chart.sh.
 */
public final class QuantizationChart {
    private QuantizationChart() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 2) throw new IllegalArgumentException("usage: QuantizationChart FIGURES.tsv OUT_DIR");
        Map<String, Map<String, double[]>> charts = new LinkedHashMap<>();
        Map<String, String> titles = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            if (line.isBlank()) continue;
            if (line.startsWith("# title ")) {
                String[] t = line.substring(8).split("\t", 2);
                titles.put(t[0], t[1]);
                continue;
            }
            if (line.startsWith("#")) continue;
            String[] f = line.split("\t");
            charts.computeIfAbsent(f[0], k -> new LinkedHashMap<>()).put(f[1], new double[]{Double.parseDouble(f[2]), Double.parseDouble(f[3])});
        }
        for (var chart : charts.entrySet()) draw(chart.getKey(), titles.getOrDefault(chart.getKey(), chart.getKey()), chart.getValue(),
                Path.of(args[1]).resolve("quantization-" + chart.getKey() + ".png"));
    }

    static void draw(String name, String title, Map<String, double[]> points, Path out) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        List<String> methods = List.copyOf(points.keySet());
        for (String m : methods) {
            XYSeries s = new XYSeries(m, false);
            s.add(points.get(m)[0], points.get(m)[1]);
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createScatterPlot(title, "storage bits per UNet weight (scales and low-rank branches included)",
                "PSNR against f16 (dB)", data, PlotOrientation.VERTICAL, false, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getDomainAxis().setLowerMargin(0.12); // room for the labels of the leftmost and rightmost points
        plot.getDomainAxis().setUpperMargin(0.12);
        XYLineAndShapeRenderer r = (XYLineAndShapeRenderer) plot.getRenderer();
        XYItemLabelGenerator labels = (dataset, series, item) -> methods.get(series);
        for (int i = 0; i < methods.size(); i++) {
            r.setSeriesItemLabelGenerator(i, labels);
            r.setSeriesItemLabelsVisible(i, true);
            r.setSeriesPaint(i, new Color(40, 90, 160));
        }
        r.setDefaultItemLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        ChartUtils.saveChartAsPNG(out.toFile(), chart, 900, 560);
        System.out.println("wrote " + out);
    }
}
