package dev.edgediffuse.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The convolution weight gradient against the direct sum over output positions. Its column buffer is reused per
 * thread, so a padded convolution runs after a larger unpadded one, whose taps leave non-zero values everywhere the
 * padded one's zeros must go.
 */
class ConvGradTest {
    @Test
    void weightGradientMatchesTheDirectSumAfterALargerCallFilledTheBuffer() {
        Random r = new Random(5);
        check(r, new ConvGrad.Shape(3, 9, 9, 6, 5, 3, 1, new int[]{0, 0, 0, 0}));
        check(r, new ConvGrad.Shape(2, 5, 4, 3, 4, 3, 1, new int[]{1, 1, 1, 1}));
        check(r, new ConvGrad.Shape(2, 6, 6, 3, 2, 3, 2, new int[]{0, 1, 0, 1}));
    }

    private static void check(Random r, ConvGrad.Shape s) {
        int oh = s.outH(), ow = s.outW(), kk = s.kernel();
        float[] x = random(r, s.batch() * s.h() * s.w() * s.cin()), dy = random(r, s.batch() * oh * ow * s.cout());
        float[] got = ConvGrad.weightGrad(x, dy, s);
        for (int co = 0; co < s.cout(); co++)
            for (int ci = 0; ci < s.cin(); ci++)
                for (int ky = 0; ky < kk; ky++)
                    for (int kx = 0; kx < kk; kx++) {
                        double want = 0;
                        for (int b = 0; b < s.batch(); b++)
                            for (int oy = 0; oy < oh; oy++)
                                for (int ox = 0; ox < ow; ox++) {
                                    int iy = oy * s.stride() + ky - s.pads()[0], ix = ox * s.stride() + kx - s.pads()[2];
                                    if (iy < 0 || iy >= s.h() || ix < 0 || ix >= s.w()) continue;
                                    want += (double) dy[((b * oh + oy) * ow + ox) * s.cout() + co] * x[((b * s.h() + iy) * s.w() + ix) * s.cin() + ci];
                                }
                        float g = got[((co * s.cin() + ci) * kk + ky) * kk + kx];
                        assertEquals(want, g, 1e-4 * (1 + Math.abs(want)), "dW[" + co + "][" + ci + "][" + ky + "][" + kx + "] of " + s);
                    }
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }
}
