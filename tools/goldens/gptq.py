"""GPTQ golden: a small layer quantized by GPTQ in float64 torch, as AutoGPTQ's fasterquant does it
(H damped by 1% of its mean diagonal, the upper Cholesky factor of H^-1, columns in order, group parameters chosen
from the updated weights at each group's first column), with EdgeDiffuse's quantizer rules mirrored in numpy
float32 (scales rounded up to their stored precision, absmax or MSE clip ratios 1.0 .. 0.5, codes rounded to nearest).

    /usr/bin/python3 tools/goldens/gptq.py

Writes src/test/resources/goldens/compress/gptq_*.npy: the weight W [16][128], the layer inputs X [300][128] and
H = X^T X / 300 (float32, as calibration stores it), the inverse Hessian factor U (float64 torch, saved as float32),
and per case the dequantized GPTQ weight and its codes.
"""
import numpy as np
import torch

from common import save, seeded

F32 = np.float32


def next_f16_up(h):
    return np.nextafter(np.float16(h), np.float16(np.inf))


def stored_scale(s, rng, steps, per_channel):
    s, rng = F32(s), F32(rng)
    if s == 0:
        return F32(0)
    if per_channel:
        stored = s
    else:
        h = np.float16(s)
        if F32(h) < s:
            h = next_f16_up(h)
        stored = F32(h)
    while F32(rng / stored) > steps:
        stored = np.nextafter(stored, F32(np.inf)) if per_channel else F32(next_f16_up(np.float16(stored)))
    return stored


def code(x, scale, zero, zero_point, bits):
    if scale == 0:
        return zero
    q = int(np.rint(F32(F32(x) / scale))) + zero
    if zero_point:
        return max(0, min(15, q))
    qmax = 127 if bits == 8 else 7
    return max(zero - qmax, min(zero + qmax, q))


def choose(v, bits, zero_point, per_channel, mse):
    v = v.astype(F32)
    lo, hi = F32(min(0.0, v.min())), F32(max(0.0, v.max()))
    best, best_err = None, np.inf
    for r in range(26 if mse else 1):
        ratio = F32(F32(1) - F32(0.02) * F32(r))
        if zero_point:
            scale = stored_scale(F32(F32(hi - lo) * ratio) / F32(15), F32(hi - lo) * ratio, 15, per_channel)
            zero = 0 if scale == 0 else int(max(0, min(15, np.rint(F32(F32(-lo * ratio) / scale)))))
        else:
            qmax = 127 if bits == 8 else 7
            absmax = F32(max(-lo, hi) * ratio)
            scale = stored_scale(F32(absmax / F32(qmax)), absmax, qmax, per_channel)
            zero = 8 if bits == 4 else 0
        if not mse:
            return scale, zero
        err = 0.0
        for x in v:
            e = F32(x - F32((code(x, scale, zero, zero_point, bits) - zero) * scale))
            err += float(e) * float(e)
        if err < best_err:
            best, best_err = (scale, zero), err
    return best


def inverse_factor(h, damp=0.01):
    h = h.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    h += damp * torch.mean(torch.diag(h)) * torch.eye(h.shape[0], dtype=h.dtype)
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True), dead


def gptq(w, u, dead, bits, group, zero_point, mse):
    w = w.clone()
    w[:, dead] = 0
    n, k = w.shape
    per_channel = group == 0
    g = k if per_channel else group
    codes = np.zeros((n, k), dtype=np.int64)
    deq = np.zeros((n, k), dtype=np.float32)
    params = [None] * n
    for i in range(k):
        for r in range(n):
            if i % g == 0:
                params[r] = choose(w[r, i:i + g].numpy(), bits, zero_point, per_channel, mse)
            scale, zero = params[r]
            c = code(F32(w[r, i].item()), scale, zero, zero_point, bits)
            codes[r, i] = c
            deq[r, i] = F32((c - zero) * scale)
        err = (w[:, i] - torch.from_numpy(deq[:, i].astype(np.float64))) / u[i, i]
        w[:, i + 1:] -= err.unsqueeze(1) * u[i, i + 1:].unsqueeze(0)
    return deq, codes


def main():
    seeded(35)
    n, k, rows = 16, 128, 300
    # inputs with correlated channels and an outlier channel, as layer inputs have
    mix = torch.randn(k, k, dtype=torch.float64) * 0.3 + torch.eye(k, dtype=torch.float64)
    x = (torch.randn(rows, k, dtype=torch.float64) @ mix).to(torch.float32)
    x[:, 5] *= 8
    x[:, 17] = 0  # a dead input channel
    w = (torch.randn(n, k, dtype=torch.float64) * 0.05).to(torch.float32)
    h32 = (x.double().T @ x.double() / rows).to(torch.float32)
    u, dead = inverse_factor(h32.double())
    save("compress", "gptq_w", w)
    save("compress", "gptq_x", x)
    save("compress", "gptq_h", h32)
    save("compress", "gptq_u", u.contiguous())
    for name, bits, group, zp, mse in [("q4_32", 4, 32, False, False), ("q4_64z_mse", 4, 64, True, True), ("q8", 8, 0, False, False)]:
        deq, codes = gptq(w.double(), u, dead, bits, group, zp, mse)
        save("compress", "gptq_" + name, deq)
        save("compress", "gptq_" + name + "_codes", codes.astype(np.float32))


if __name__ == "__main__":
    main()
