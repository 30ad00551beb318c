package dev.edgediffuse.nn;

import dev.edgediffuse.tensor.Buffers;

/**
 * A layer plus a low-rank branch: y = base(x) + scale · up(down(x)), down [rank][in] and up [out][rank] (LoRA's
 * A and B). The base may be any layer — a quantized weight keeps its format while the branch stays in 16 or 32 bits,
 * so a small delta is not rounded away (LoRA at run time on a 4-bit model; SVDQuant's 16-bit low-rank part beside a
 * 4-bit residual). Differentiable in x and in both branch matrices when they are trainable heap arrays.
 */
public final class LowRankLinear implements Linear {
    private final Linear base, down, up;
    private final float scale;

    public LowRankLinear(Linear base, Linear down, Linear up, float scale) {
        if (down.in() != base.in() || up.out() != base.out() || up.in() != down.out()) {
            throw new IllegalArgumentException("low-rank branch " + down.in() + "→" + down.out() + "→" + up.out()
                    + " does not fit a layer " + base.in() + "→" + base.out());
        }
        this.base = base;
        this.down = down;
        this.up = up;
        this.scale = scale;
    }

    public int rank() {
        return down.out();
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
    public float[] forward(float[] x, int rows) {
        return withBranch(base.forward(x, rows), down.forward(x, rows), rows);
    }

    @Override
    public float[] forwardRows(float[] x, int firstRow, int rows) {
        return withBranch(base.forwardRows(x, firstRow, rows), down.forwardRows(x, firstRow, rows), rows);
    }

    private float[] withBranch(float[] y, float[] h, int rows) {
        float[] branch = up.forward(h, rows);
        Buffers.give(h);
        float[] out = Ops.addScaled(y, branch, scale);
        Buffers.give(branch);
        return out;
    }
}
