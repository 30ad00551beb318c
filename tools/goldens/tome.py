"""Goldens for token merging (speedup.TokenMerging): tomesd's bipartite soft matching with 2x2 strides.

A torch reference written from tomesd's semantics (merge.py: bipartite_soft_matching_random2d; patch.py: where the
merge and unmerge wrap the modules): one destination per 2x2 cell (given per image, or the top-left), the rest
sources, cosine similarity source -> destination, each source's best destination, the r most similar sources
averaged into their destinations (scatter_reduce "mean", the destination counted once); merged order = unmerged
sources by falling similarity, then destinations; unmerge copies back. Sorting is stable (ties in index order),
which tomesd leaves to torch's default sort.

Writes tome/: merge and unmerge of fixed tokens for two maps (one with odd sides), and the sd1_tiny UNet of
unet.py with token merging in its transformer blocks (fixed partitions; two settings).

Run: /usr/bin/python3 tools/goldens/tome.py
"""
import numpy as np
import torch

import unet
from common import save, seeded

C = "tome"


def partition(h, w, choice):
    """Destination and source token indices (raster order) for one image; choice[i] = position in cell i."""
    is_dst = torch.zeros(h, w, dtype=torch.bool)
    cells_x = w // 2
    for i in range((h // 2) * cells_x):
        k = 0 if choice is None else int(choice[i])
        is_dst[2 * (i // cells_x) + k // 2, 2 * (i % cells_x) + k % 2] = True
    flat = is_dst.reshape(-1)
    return flat.nonzero().squeeze(1), (~flat).nonzero().squeeze(1)


def matching(metric, h, w, r, choices=None):
    """merge, unmerge for metric [B, N, C]; choices [B][cells] or None (top-left everywhere)."""
    B, N, _ = metric.shape
    normed = metric / metric.norm(dim=-1, keepdim=True)
    plans = []
    for b in range(B):
        dst, src = partition(h, w, None if choices is None else choices[b])
        scores = normed[b, src] @ normed[b, dst].T
        best, match = scores.max(dim=-1)
        order = torch.sort(best, descending=True, stable=True).indices
        plans.append((dst, src, order[:r], order[r:], match))

    def merge(x):
        out = []
        for b, (dst, src, merged, unmerged, match) in enumerate(plans):
            c = x.shape[-1]
            d = x[b, dst].scatter_reduce(0, match[merged][:, None].expand(r, c), x[b, src[merged]], reduce="mean",
                                         include_self=True)
            out.append(torch.cat([x[b, src[unmerged]], d]))
        return torch.stack(out)

    def unmerge(y):
        out = torch.zeros(B, N, y.shape[-1])
        for b, (dst, src, merged, unmerged, match) in enumerate(plans):
            u = len(unmerged)
            out[b, dst] = y[b, u:]
            out[b, src[unmerged]] = y[b, :u]
            out[b, src[merged]] = y[b, u + match[merged]]
        return out

    return merge, unmerge


def bipartite_cases():
    # 6x8: whole cells, random destinations per image; 5x7: a row and a column of sources only, top-left destinations
    for name, h, w, r, random in (("even", 6, 8, 24, True), ("odd", 5, 7, 21, False)):
        x = torch.randn(2, h * w, 12)
        cells = (h // 2) * (w // 2)
        choices = torch.randint(4, (2, cells)) if random else None
        merge, unmerge = matching(x, h, w, r, choices)
        merged = merge(x)
        y = torch.randn(2, h * w - r, 12)
        save(C, name + "_x", x)
        save(C, name + "_merged", merged)
        save(C, name + "_y", y)
        save(C, name + "_unmerged", unmerge(y))
        if choices is not None:
            save(C, name + "_choices", choices.float())
        print(name, "merged", tuple(merged.shape))


def unet_cases():
    """sd1_tiny as unet.py builds it (same seed, same inputs), with token merging in its transformer blocks."""
    name = "sd1_tiny"
    seeded(100 + list(unet.CONFIGS).index(name))
    cfg = dict(unet.COMMON, **unet.CONFIGS[name])
    plan = unet.Plan(cfg)
    w = unet.make_weights(cfg, plan)
    x = torch.randn(2, 4, 8, 8)
    t = torch.tensor([999.0, 432.7])
    ctx = torch.randn(2, 7, 32)
    committed = np.load(f"{unet.out_dir('unet/' + name)}/latents.npy")
    assert np.array_equal(committed, x.numpy()), "unet.py's sd1_tiny inputs changed"
    # (ratio, max_downsample, cross-attention and feed-forward merged too)
    for label, ratio, max_down, all_modules in (("r05", 0.5, 1, False), ("r04_all", 0.4, 2, True)):
        def tome(metric, h, w_, level):
            if level > max_down:
                return None
            n = h * w_
            r = min(int(n * ratio), n - (h // 2) * (w_ // 2))
            if r <= 0:
                return None
            m, u = matching(metric, h, w_, r)
            return m, u, all_modules, all_modules
        with torch.no_grad():
            y = unet.forward(cfg, plan, w, x, t, ctx, tome=tome)
        save(C, "unet_" + label, y)
        print("unet", label, "|out| max", float(y.abs().max()))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float32)
    seeded(7)
    bipartite_cases()
    unet_cases()
