"""Simulated 8-bit activations golden: torch's own per-tensor affine fake quantization (quint8 range 0..255) of a
vector under three calibrated ranges, with scale = (max - min) / 255 and zero point = round(-min / scale) in float32
as EdgeDiffuse computes them (compress/Int8Activations).

    /usr/bin/python3 tools/goldens/int8_activations.py

Writes src/test/resources/goldens/compress/int8_x.npy (values, some outside every range), int8_ranges.npy [3][2]
(min, max) and int8_q.npy [3][n] (torch.fake_quantize_per_tensor_affine of x under each range).
"""
import numpy as np
import torch

from common import save, seeded

F32 = np.float32


def main():
    g = seeded(8)
    x = (torch.randn(4096, generator=g, dtype=torch.float32) * 1.5 + 0.3).contiguous()
    ranges = np.array([[-0.7, 3.1], [-2.5, 0.0], [-1.0, 1.0]], dtype=F32)
    out = []
    for lo, hi in ranges:
        scale = F32(F32(hi - lo) / F32(255))
        zero = int(np.floor(F32(-lo / scale) + F32(0.5)))
        out.append(torch.fake_quantize_per_tensor_affine(x, float(scale), zero, 0, 255))
    save("compress", "int8_x", x)
    save("compress", "int8_ranges", ranges)
    save("compress", "int8_q", torch.stack(out))


if __name__ == "__main__":
    main()
