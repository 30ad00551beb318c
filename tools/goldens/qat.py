"""Quantization-aware training golden: forward values and gradients of LSQ fake quantization, by torch autograd with
straight-through rounding (round(v) + (v - v.detach()) pattern), for EdgeDiffuse's qat/WeightQuantizer and
qat/ActivationQuantizer.

    /usr/bin/python3 tools/goldens/qat.py

Weights (LSQ, Esser et al. 2020): out = round(clamp(w / s, -Q, Q)) * s per group, the scale's gradient scaled by
g = 1 / sqrt(group * Q). Two cases: q8 per output channel (Q = 127, a group is a row of 40) and q4_32 (Q = 7, groups
of 32, scales exactly representable in f16 as the format stores them). Activations: the runtime's asymmetric uint8
per tensor, s = (hi - lo) / 255, zero = round(-lo / s), out = (clamp(round(x / s) + zero, 0, 255) - zero) * s, both
roundings straight-through, the range's gradients scaled by g = 1 / sqrt(n * 255).
Each case saves its inputs, a random upstream gradient dy and the results (qat/<case>_*.npy).
"""
import math

import numpy as np
import torch

from common import save, seeded


def ste_round(v):
    return v + (torch.round(v) - v).detach()


def grad_scaled(p, g):
    return (p - p * g).detach() + p * g


def weight_case(name, rows, k, group, qmax, gen):
    w = torch.randn(rows, k, generator=gen, dtype=torch.float32) * 0.05
    groups = w.reshape(-1, group)
    s0 = groups.abs().amax(dim=1) / qmax * 0.8  # a trained-looking scale: some values clamp
    if group != k:
        s0 = s0.to(torch.float16).to(torch.float32)
    s = s0.clone().requires_grad_(True)
    wp = w.clone().requires_grad_(True)
    sg = grad_scaled(s, 1 / math.sqrt(group * qmax)).unsqueeze(1)
    out = ste_round(torch.clamp(wp.reshape(-1, group) / sg, -qmax, qmax)) * sg
    dy = torch.randn(out.shape, generator=gen, dtype=torch.float32)
    (out * dy).sum().backward()
    save("qat", name + "_w", w)
    save("qat", name + "_scales", s0)
    save("qat", name + "_dy", dy.reshape(rows, k))
    save("qat", name + "_out", out.reshape(rows, k))
    save("qat", name + "_dw", wp.grad)
    save("qat", name + "_ds", s.grad)


def activation_case(gen):
    n = 3000
    x = torch.randn(n, generator=gen, dtype=torch.float32) * 1.5 + 0.3
    rng = torch.tensor([-1.7, 2.9], dtype=torch.float32)
    xp = x.clone().requires_grad_(True)
    rp = rng.clone().requires_grad_(True)
    r = grad_scaled(rp, 1 / math.sqrt(n * 255))
    lo, hi = r[0], r[1]
    s = (hi - lo) / 255
    zero = ste_round(-lo / s)
    out = (torch.clamp(ste_round(xp / s) + zero, 0, 255) - zero) * s
    dy = torch.randn(n, generator=gen, dtype=torch.float32)
    (out * dy).sum().backward()
    save("qat", "act_x", x)
    save("qat", "act_range", rng)
    save("qat", "act_dy", dy)
    save("qat", "act_out", out)
    save("qat", "act_dx", xp.grad)
    save("qat", "act_drange", rp.grad)


def main():
    g = seeded(36)
    weight_case("q8", 6, 40, 40, 127, g)
    weight_case("q4_32", 6, 64, 32, 7, g)
    activation_case(g)


if __name__ == "__main__":
    main()
