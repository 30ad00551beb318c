package dev.edgediffuse.nn;

import dev.edgediffuse.tensor.Buffers;
import dev.edgediffuse.tensor.FeatureMap;

/**
 * A convolution plus a low-rank branch, as LoCon and kohya's conv LoRA define it: y = base(x) + scale · up(down(x)),
 * down a convolution with the base's kernel, stride and padding (in → rank) and up a 1×1 map (rank → out). The
 * branch reads x the same way the base does (fused norm or upsampling included), so nothing extra is stored.
 */
public final class LowRankConv implements Conv {
    private final Conv base, down;
    private final Linear up;
    private final float scale;

    public LowRankConv(Conv base, Conv down, Linear up, float scale) {
        if (down.in() != base.in() || down.kernel() != base.kernel() || down.stride() != base.stride()
                || !java.util.Arrays.equals(down.pads(), base.pads()) || up.in() != down.out() || up.out() != base.out()) {
            throw new IllegalArgumentException("low-rank branch does not fit a " + base.kernel() + "×" + base.kernel() + " conv "
                    + base.in() + "→" + base.out());
        }
        this.base = base;
        this.down = down;
        this.up = up;
        this.scale = scale;
    }

    @Override
    public int in() {
        return base.in();
    }

    @Override
    public int out() {
        return base.out();
    }

    @Override
    public int kernel() {
        return base.kernel();
    }

    @Override
    public int stride() {
        return base.stride();
    }

    @Override
    public int[] pads() {
        return base.pads();
    }

    @Override
    public FeatureMap forward(FeatureMap x) {
        return withBranch(base.forward(x), down.forward(x));
    }

    @Override
    public FeatureMap forward(GroupNorm norm, boolean silu, FeatureMap x) {
        return withBranch(base.forward(norm, silu, x), down.forward(norm, silu, x));
    }

    @Override
    public FeatureMap forwardUpsampled(FeatureMap x) {
        return withBranch(base.forwardUpsampled(x), down.forwardUpsampled(x));
    }

    private FeatureMap withBranch(FeatureMap y, FeatureMap h) {
        float[] branch = up.forward(h.data(), h.batch() * h.pixels());
        Buffers.give(h.data());
        float[] out = Ops.addScaled(y.data(), branch, scale);
        Buffers.give(branch);
        return y.with(out);
    }
}
