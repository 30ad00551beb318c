"""Goldens for the scheduler package: each diffusers scheduler re-derived in torch/numpy (same float32 tensors
and numpy float64 tables as diffusers), driven by a fixed synthetic "model" from fixed latents.

Run with Debian's torch:  /usr/bin/python3 tools/goldens/schedulers.py
Per case <name> it writes <name>_timesteps (N,), <name>_samples (N+1, 256): the latents before every step and
after the last, and <name>_noise (N, 256) when the scheduler draws noise. Shared inputs: latents (256,) N(0,1),
pattern (256,), x0 (256,) and img_noise (256,) for img2img.
"""
import math

import numpy as np
import torch

from common import save, seeded

C = "schedulers"
torch.set_default_dtype(torch.float32)
SD15 = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            steps_offset=1, set_alpha_to_one=False, clip_sample=False)


# ---------------------------------------------------------------------------------------------- shared schedule
def cos_betas(n, max_beta=0.999):
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((i + 1) / n) / f(i / n), max_beta) for i in range(n)], dtype=torch.float32)


def alphas_cumprod(cfg):
    n = cfg["num_train_timesteps"]
    kind = cfg["beta_schedule"]
    if kind == "linear":
        betas = torch.linspace(cfg["beta_start"], cfg["beta_end"], n, dtype=torch.float32)
    elif kind == "scaled_linear":
        betas = torch.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, n, dtype=torch.float32) ** 2
    else:
        betas = cos_betas(n)
    return torch.cumprod(1.0 - betas, dim=0)


def spaced(cfg, n, spacing, round_linspace):
    T = cfg["num_train_timesteps"]
    if spacing == "linspace":
        t = np.linspace(0, T - 1, n)
        t = t.round() if round_linspace else t.astype(np.float32)
        return t[::-1].copy().astype(np.float64)
    if spacing == "leading":
        r = T // n
        return (np.arange(0, n) * r).round()[::-1].astype(np.float64) + cfg.get("steps_offset", 0)
    if spacing == "trailing":
        return np.round(np.arange(T, 0, -T / n)) - 1
    raise ValueError(spacing)


def sigma_to_t(sigma, log_sigmas):
    ls = np.log(np.maximum(sigma, 1e-10))
    below = int((log_sigmas <= ls).sum())  # log_sigmas ascend with t
    lo = min(max(below - 1, 0), len(log_sigmas) - 2)
    w = (log_sigmas[lo] - ls) / (log_sigmas[lo] - log_sigmas[lo + 1])
    w = min(max(w, 0.0), 1.0)
    return (1 - w) * lo + w * (lo + 1)


def karras(smin, smax, n, rho=7.0):
    ramp = np.linspace(0, 1, n)
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    return (a + ramp * (b - a)) ** rho


# ---------------------------------------------------------------------------------------------- schedulers
class Ddim:
    noisy = False

    def __init__(self, cfg, n, pred):
        self.acp = alphas_cumprod(cfg)
        self.final = torch.tensor(1.0) if cfg.get("set_alpha_to_one", True) else self.acp[0]
        self.ts = spaced(cfg, n, cfg.get("timestep_spacing", "leading"), True).astype(np.int64)
        self.ratio = cfg["num_train_timesteps"] // n
        self.pred = pred
        self.init_sigma = 1.0

    def scale(self, x, i):
        return x

    def step(self, m, i, x, z):
        t = int(self.ts[i])
        p = t - self.ratio
        a = self.acp[t]
        ap = self.acp[p] if p >= 0 else self.final
        b = 1 - a
        if self.pred == "epsilon":
            x0, eps = (x - b ** 0.5 * m) / a ** 0.5, m
        else:
            x0, eps = a ** 0.5 * x - b ** 0.5 * m, a ** 0.5 * m + b ** 0.5 * x
        return ap ** 0.5 * x0 + (1 - ap) ** 0.5 * eps

    def add_noise(self, x0, z, i):
        a = self.acp[int(self.ts[i])]
        return a ** 0.5 * x0 + (1 - a) ** 0.5 * z


class Euler:
    noisy = False

    def __init__(self, cfg, n, pred, use_karras=False):
        self.acp = alphas_cumprod(cfg)
        spacing = cfg.get("timestep_spacing", "linspace")
        ts = spaced(cfg, n, spacing, False)
        full = np.array(((1 - self.acp) / self.acp) ** 0.5)
        sig = np.interp(ts, np.arange(0, len(full)), full)
        if use_karras:
            sig = karras(sig[-1].item(), sig[0].item(), n)
            ts = np.array([sigma_to_t(s, np.log(full)) for s in sig])
        self.sigmas = torch.from_numpy(np.concatenate([sig, [0.0]]).astype(np.float32))
        self.ts = ts.astype(np.float32)
        mx = self.sigmas.max()
        self.init_sigma = float(mx if spacing in ("linspace", "trailing") else (mx ** 2 + 1) ** 0.5)
        self.pred = pred

    def scale(self, x, i):
        s = self.sigmas[i]
        return x / ((s ** 2 + 1) ** 0.5)

    def x0(self, m, x, s):
        if self.pred == "epsilon":
            return x - s * m
        return m * (-s / (s ** 2 + 1) ** 0.5) + (x / (s ** 2 + 1))

    def step(self, m, i, x, z):
        s = self.sigmas[i]
        d = (x - self.x0(m, x, s)) / s
        return x + d * (self.sigmas[i + 1] - s)

    def add_noise(self, x0, z, i):
        return x0 + z * self.sigmas[i]


class EulerA(Euler):
    noisy = True

    def step(self, m, i, x, z):
        sf, st = self.sigmas[i], self.sigmas[i + 1]
        up = (st ** 2 * (sf ** 2 - st ** 2) / sf ** 2) ** 0.5
        down = (st ** 2 - up ** 2) ** 0.5
        d = (x - self.x0(m, x, sf)) / sf
        return x + d * (down - sf) + z * up


class Dpm:
    noisy = False

    def __init__(self, cfg, n, pred, use_karras=False):
        self.acp = alphas_cumprod(cfg)
        T = cfg["num_train_timesteps"]
        full = np.array(((1 - self.acp) / self.acp) ** 0.5)
        if use_karras:
            sig = karras(full[0].item(), full[-1].item(), n)
            ts = np.array([sigma_to_t(s, np.log(full)) for s in sig]).round()
        else:
            ts = np.linspace(0, T - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
            sig = np.interp(ts, np.arange(0, len(full)), full)
        self.sigmas = torch.from_numpy(np.concatenate([sig, [0.0]]).astype(np.float32))
        self.ts = ts.astype(np.int64)
        self.pred = pred
        self.init_sigma = 1.0
        self.prev = None
        self.count = 0

    def scale(self, x, i):
        return x

    @staticmethod
    def asl(s):
        a = 1 / ((s ** 2 + 1) ** 0.5)
        sg = s * a
        return a, sg, torch.log(a) - torch.log(sg)

    def step(self, m, i, x, z):
        n = len(self.ts)
        a0, s0, l0 = self.asl(self.sigmas[i])
        x0 = (x - s0 * m) / a0 if self.pred == "epsilon" else a0 * x - s0 * m
        at, st, lt = self.asl(self.sigmas[i + 1])
        h = lt - l0
        first = self.count < 1 or i == n - 1  # final sigma is zero: last step is first order
        if first:
            out = (st / s0) * x - (at * (torch.exp(-h) - 1.0)) * x0
        else:
            _, _, l1 = self.asl(self.sigmas[i - 1])
            r0 = (l0 - l1) / h
            d1 = (1.0 / r0) * (x0 - self.prev)
            out = (st / s0) * x - (at * (torch.exp(-h) - 1.0)) * x0 - 0.5 * (at * (torch.exp(-h) - 1.0)) * d1
        self.prev = x0
        self.count = min(self.count + 1, 2)
        return out

    def add_noise(self, x0, z, i):
        a, s, _ = self.asl(self.sigmas[i])
        return a * x0 + s * z


class Lcm:
    noisy = True

    def __init__(self, cfg, n, pred, original=50):
        self.acp = alphas_cumprod(cfg)
        k = cfg["num_train_timesteps"] // original
        grid = (np.arange(1, original + 1) * k - 1)[::-1].copy()
        idx = np.floor(np.linspace(0, len(grid), num=n, endpoint=False)).astype(np.int64)
        self.ts = grid[idx]
        self.pred = pred
        self.init_sigma = 1.0

    def scale(self, x, i):
        return x

    def step(self, m, i, x, z):
        n = len(self.ts)
        t = torch.tensor(int(self.ts[i]))
        p = int(self.ts[i + 1]) if i + 1 < n else int(t)
        a, ap = self.acp[t], self.acp[p]
        st = t * 10.0
        c_skip = 0.25 / (st ** 2 + 0.25)
        c_out = st / (st ** 2 + 0.25) ** 0.5
        x0 = (x - (1 - a).sqrt() * m) / a.sqrt() if self.pred == "epsilon" else a.sqrt() * x - (1 - a).sqrt() * m
        den = c_out * x0 + c_skip * x
        if i == n - 1:
            return den
        return ap.sqrt() * den + (1 - ap).sqrt() * z

    def add_noise(self, x0, z, i):
        a = self.acp[int(self.ts[i])]
        return a ** 0.5 * x0 + (1 - a) ** 0.5 * z


MAKERS = {
    "ddim": lambda n, p: Ddim(SD15, n, p),
    "euler": lambda n, p: Euler(SD15, n, p),
    "euler_a": lambda n, p: EulerA(SD15, n, p),
    "dpmpp_2m": lambda n, p: Dpm(SD15, n, p),
    "dpmpp_2m_karras": lambda n, p: Dpm(SD15, n, p, use_karras=True),
    "lcm": lambda n, p: Lcm(SD15, n, p),
}


# ---------------------------------------------------------------------------------------------- synthetic model
if __name__ == "__main__":
    seeded(7)
    latents = torch.randn(256)
    pattern = torch.randn(256)
    x0_img = torch.randn(256) * 0.8
    img_noise = torch.randn(256)
    save(C, "latents", latents)
    save(C, "pattern", pattern)
    save(C, "x0", x0_img)
    save(C, "img_noise", img_noise)


    def model(x_in, t):
        """Deterministic stand-in for the UNet: 0.1·x + 0.5·pattern + 0.05·sin(t/100)."""
        return (0.1 * x_in + 0.5 * pattern) + float(0.05 * math.sin(float(t) / 100.0))


    def run(name, sched, start=0, x=None):
        n = len(sched.ts)
        if x is None:
            x = latents * sched.init_sigma
        gen = torch.Generator().manual_seed(1000 + n)
        samples, noises = [x.clone()], []
        for i in range(start, n):
            z = torch.randn(256, generator=gen)
            noises.append(z)
            m = model(sched.scale(x, i), sched.ts[i])
            x = sched.step(m, i, x, z).to(torch.float32)
            samples.append(x.clone())
        save(C, name + "_timesteps", np.asarray(sched.ts, dtype=np.float32))
        save(C, name + "_samples", torch.stack(samples))
        save(C, name + "_noise", torch.stack(noises))
        save(C, name + "_init_sigma", np.asarray([sched.init_sigma], dtype=np.float32))


    CASES = [(s, n, "epsilon") for s in MAKERS for n in (4, 10)] + [
        ("euler", 1, "epsilon"), ("lcm", 1, "epsilon"), ("dpmpp_2m", 1, "epsilon"), ("ddim", 1, "epsilon"),
        ("dpmpp_2m", 25, "epsilon"), ("dpmpp_2m_karras", 25, "epsilon"), ("euler", 25, "epsilon"),
    ] + [(s, 10 if s != "lcm" else 4, "v_prediction") for s in MAKERS]
    for s, n, p in CASES:
        run(f"{s}_{'eps' if p == 'epsilon' else 'v'}_{n}", MAKERS[s](n, p))

    # img2img at strength 0.6 with 10 steps (4 for lcm): start index, noised latents, then the remaining steps
    for s in MAKERS:
        n = 4 if s == "lcm" else 10
        sched = MAKERS[s](n, "epsilon")
        init = min(int(n * 0.6), n)
        start = max(n - init, 0)
        noised = sched.add_noise(x0_img, img_noise, start)
        run(f"{s}_img2img", sched, start=start, x=noised)
        save(C, f"{s}_img2img_start", np.asarray([start], dtype=np.float32))

    # the three beta schedules (linear with diffusers' class defaults)
    for kind, cfg in [("scaled_linear", SD15),
                      ("linear", dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear")),
                      ("squaredcos_cap_v2", dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"))]:
        save(C, f"acp_{kind}", alphas_cumprod(cfg))
    print("scheduler goldens written")
