package dev.edgediffuse.train;

import dev.edgediffuse.tensor.FeatureMap;

/**
 * The autoencoder's reconstruction loss on NHWC images: mean L1 of the pixels plus {@code edgeWeight} × mean L1 of
 * the horizontal and vertical pixel differences. The difference term penalizes blur that plain L1 tolerates
 * (a soft edge costs little in pixels but its gradient is wrong everywhere along it).
 */
final class ReconstructionLoss {
    private ReconstructionLoss() {}

    /** Returns the loss and writes its gradient with respect to {@code recon} into {@code grad}. */
    static double l1WithEdges(FeatureMap recon, float[] target, double edgeWeight, float[] grad) {
        float[] r = recon.data();
        if (target.length != r.length || grad.length != r.length) throw new IllegalArgumentException("reconstruction and target sizes differ");
        double l1 = 0;
        for (int i = 0; i < r.length; i++) {
            double d = r[i] - target[i];
            l1 += Math.abs(d);
            grad[i] = (float) (Math.signum(d) / r.length);
        }
        double loss = l1 / r.length;
        if (edgeWeight == 0) return loss;
        int n = recon.batch(), h = recon.height(), w = recon.width(), c = recon.channels();
        int rowStride = w * c;
        long terms = (long) n * c * ((long) h * (w - 1) + (long) (h - 1) * w);
        float step = (float) (edgeWeight / terms);
        double edges = 0;
        for (int b = 0; b < n; b++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int k = 0; k < c; k++) {
                        int i = ((b * h + y) * w + x) * c + k;
                        if (x + 1 < w) edges += edge(r, target, grad, i, i + c, step);
                        if (y + 1 < h) edges += edge(r, target, grad, i, i + rowStride, step);
                    }
        return loss + edgeWeight * edges / terms;
    }

    /** |(r[j] − r[i]) − (t[j] − t[i])|, its gradient added at i and j. */
    private static double edge(float[] r, float[] t, float[] grad, int i, int j, float step) {
        double d = (r[j] - r[i]) - (t[j] - t[i]);
        float g = (float) Math.signum(d) * step;
        grad[j] += g;
        grad[i] -= g;
        return Math.abs(d);
    }
}
