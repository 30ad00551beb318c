"""Goldens for latent consistency distillation pieces (model.unet.GuidanceEmbedding, train.ConsistencyObjective).

guidance_embedding_{256,7}.npy: diffusers' get_guidance_scale_embedding (LatentConsistencyModelPipeline and
train_lcm_distill_sd_wds: w * 1000, half = dim // 2, freqs exp(-k * log(10000) / (half - 1)), [sin, cos], zero pad
for odd dim), float32, for w = [0, 0.5, 1, 2.5, 7] at dim 256 and dim 7.
boundary.npy: [t, c_skip, c_out] rows of LCMScheduler.get_scalings_for_boundary_condition_discrete (sigma_data 0.5,
timestep_scaling 10) at t = 0, 1, 19, 39, 459, 999, in float64.

Run: /usr/bin/python3 tools/goldens/lcm.py
"""
import torch

from common import save

W = torch.tensor([0.0, 0.5, 1.0, 2.5, 7.0])


def guidance_scale_embedding(w, embedding_dim):
    w = w * 1000.0
    half_dim = embedding_dim // 2
    emb = torch.log(torch.tensor(10000.0)) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim, dtype=torch.float32) * -emb)
    emb = w.to(torch.float32)[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if embedding_dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def main():
    for dim in (256, 7):
        save("lcm", "guidance_embedding_%d" % dim, guidance_scale_embedding(W, dim))
    rows = []
    for t in (0, 1, 19, 39, 459, 999):
        scaled = 10.0 * t
        c_skip = 0.25 / (scaled ** 2 + 0.25)
        c_out = scaled / (scaled ** 2 + 0.25) ** 0.5
        rows.append([t, c_skip, c_out])
    save("lcm", "boundary", torch.tensor(rows, dtype=torch.float64))
    print("wrote lcm goldens")


if __name__ == "__main__":
    main()
