"""Goldens for the evaluation metrics: FID (Frechet distance) via numpy's general eigenvalues of S1·S2, and SSIM via
torch conv2d with a Gaussian window - routes independent of the Java implementation."""
import numpy as np
import torch
import torch.nn.functional as F

from common import save

C = "eval"
rng = np.random.default_rng(3)
a = rng.normal(size=(300, 12)).astype(np.float32)
mix = rng.normal(size=(12, 12)).astype(np.float32) * 0.3
b = (rng.normal(size=(250, 12)) @ (np.eye(12) + mix) + 0.4).astype(np.float32)
save(C, "fid_a", a)
save(C, "fid_b", b)


def fid(x, y):
    x, y = x.astype(np.float64), y.astype(np.float64)
    mx, my = x.mean(0), y.mean(0)
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ev = np.linalg.eigvals(sx @ sy)
    return float(((mx - my) ** 2).sum() + np.trace(sx) + np.trace(sy) - 2 * np.sqrt(np.clip(ev.real, 0, None)).sum())


save(C, "fid_ab", np.array([fid(a, b)]))

img_a = rng.uniform(size=(24, 20, 3)).astype(np.float32)
img_b = np.clip(img_a + rng.normal(scale=0.1, size=img_a.shape), 0, 1).astype(np.float32)
save(C, "ssim_a", img_a)
save(C, "ssim_b", img_b)
g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5 ** 2))
g = g / g.sum()
win = (g[:, None] * g[None, :])[None, None]


def ssim(x, y):
    x = torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[:, None]
    y = torch.from_numpy(y.astype(np.float64)).permute(2, 0, 1)[:, None]
    mx, my = F.conv2d(x, win), F.conv2d(y, win)
    vx = F.conv2d(x * x, win) - mx ** 2
    vy = F.conv2d(y * y, win) - my ** 2
    cxy = F.conv2d(x * y, win) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(m.mean())


save(C, "ssim_ab", np.array([ssim(img_a, img_b)]))
save(C, "psnr_ab", np.array([10 * np.log10(1 / np.mean((img_a.astype(np.float64) - img_b) ** 2))]))
