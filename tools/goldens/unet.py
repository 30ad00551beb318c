"""Goldens for the UNet (model.UNet2DConditionModel): tiny SD1-, SD2- and BK-SDM-shaped configs.

A reference forward pass written with torch.nn.functional from the diffusers UNet2DConditionModel semantics,
random weights under diffusers names (rounded to fp16 so the committed files stay small and both sides see the
same values), and the noise prediction for a batch of two latents at two fractional timesteps.
Also writes ldm_names.json: each diffusers tensor name's original (LDM single-file) name, found by walking the
original model's module order, to check model.UNetOriginalNames independently.

Run: /usr/bin/python3 tools/goldens/unet.py [config names, default all]
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from common import out_dir, save, seeded, write_safetensors

CONFIGS = {
    # SD1.x layout: attention_head_dim is the head count, 1x1-conv projections, mid block present
    "sd1_tiny": {
        "block_out_channels": [16, 32], "layers_per_block": 2,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": 2, "use_linear_projection": False,
        "flip_sin_to_cos": True, "freq_shift": 0,
    },
    # SD2.x layout: per-block head counts, linear projections; plus several transformer layers per block
    "sd2_tiny": {
        "block_out_channels": [16, 32, 32], "layers_per_block": 1,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": [2, 4, 4], "use_linear_projection": True, "transformer_layers_per_block": [1, 2, 1],
        "flip_sin_to_cos": True, "freq_shift": 0,
    },
    # BK-SDM-tiny layout: no mid block, one resnet per down stage, no plain Down/Up stage
    "bk_tiny": {
        "block_out_channels": [16, 32, 32], "layers_per_block": 1,
        "down_block_types": ["CrossAttnDownBlock2D"] * 3,
        "up_block_types": ["CrossAttnUpBlock2D"] * 3,
        "attention_head_dim": 2, "use_linear_projection": False, "mid_block_type": None,
        "flip_sin_to_cos": False, "freq_shift": 1,
    },
    # the prompt pooled into the time embedding as well (addition_embed_type "text", diffusers' TextTimeEmbedding)
    "text_time_tiny": {
        "block_out_channels": [16, 32], "layers_per_block": 1,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": 2, "use_linear_projection": False,
        "flip_sin_to_cos": True, "freq_shift": 0,
        "addition_embed_type": "text", "addition_embed_type_num_heads": 4,
    },
    # a ResNet count per stage (diffusers takes a list for layers_per_block; each up stage has one more)
    "per_stage_tiny": {
        "block_out_channels": [16, 32, 32], "layers_per_block": [1, 2, 1],
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": 2, "use_linear_projection": False,
        "flip_sin_to_cos": True, "freq_shift": 0,
    },
    # LCM's extra timestep condition (time_cond_proj_dim): the guidance-scale embedding added to the sinusoids
    "lcm_tiny": {
        "block_out_channels": [16, 32], "layers_per_block": 1,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": 2, "use_linear_projection": False,
        "flip_sin_to_cos": True, "freq_shift": 0, "time_cond_proj_dim": 12,
    },
}
COMMON = {"_class_name": "UNet2DConditionModel", "in_channels": 4, "out_channels": 4, "cross_attention_dim": 32,
          "norm_num_groups": 8, "norm_eps": 1e-5, "act_fn": "silu", "upcast_attention": False,
          "only_cross_attention": False, "sample_size": 8}


def as_list(v, n):
    return list(v) if isinstance(v, list) else [v] * n


class Plan:
    """The module structure a config implies, as lists of (diffusers prefix, kind, sizes)."""

    def __init__(self, cfg):
        self.cfg = cfg
        ch = cfg["block_out_channels"]
        n = len(ch)
        self.heads = as_list(cfg.get("num_attention_heads") or cfg["attention_head_dim"], n)
        self.resnets = as_list(cfg["layers_per_block"], n)
        self.layers = as_list(cfg.get("transformer_layers_per_block", 1), n)
        self.temb = ch[0] * 4
        self.has_mid = cfg.get("mid_block_type", "UNetMidBlock2DCrossAttn") is not None


def randw(shape, fan_in):
    return (torch.randn(*shape) / math.sqrt(fan_in)).half().float()


def make_weights(cfg, plan):
    w = {}
    groups = cfg["norm_num_groups"]

    def lin(name, i, o, bias=True, conv1x1=False):
        w[name + ".weight"] = randw((o, i, 1, 1) if conv1x1 else (o, i), i)
        if bias:
            w[name + ".bias"] = (0.1 * torch.randn(o)).half().float()

    def conv(name, i, o, k=3):
        w[name + ".weight"] = randw((o, i, k, k), i * k * k)
        w[name + ".bias"] = (0.1 * torch.randn(o)).half().float()

    def norm(name, c):
        w[name + ".weight"] = (1 + 0.1 * torch.randn(c)).half().float()
        w[name + ".bias"] = (0.1 * torch.randn(c)).half().float()

    def resnet(name, i, o):
        norm(name + ".norm1", i); conv(name + ".conv1", i, o); lin(name + ".time_emb_proj", plan.temb, o)
        norm(name + ".norm2", o); conv(name + ".conv2", o, o)
        if i != o:
            conv(name + ".conv_shortcut", i, o, k=1)

    def transformer(name, c, layers):
        linear = cfg["use_linear_projection"]
        norm(name + ".norm", c); lin(name + ".proj_in", c, c, conv1x1=not linear)
        for k in range(layers):
            b = f"{name}.transformer_blocks.{k}"
            for a, kv in (("attn1", c), ("attn2", cfg["cross_attention_dim"])):
                lin(f"{b}.{a}.to_q", c, c, bias=False); lin(f"{b}.{a}.to_k", kv, c, bias=False)
                lin(f"{b}.{a}.to_v", kv, c, bias=False); lin(f"{b}.{a}.to_out.0", c, c)
            for nn in ("norm1", "norm2", "norm3"):
                norm(f"{b}.{nn}", c)
            lin(f"{b}.ff.net.0.proj", c, 8 * c); lin(f"{b}.ff.net.2", 4 * c, c)
        lin(name + ".proj_out", c, c, conv1x1=not linear)

    ch = cfg["block_out_channels"]
    lpb = plan.resnets
    conv("conv_in", cfg["in_channels"], ch[0])
    lin("time_embedding.linear_1", ch[0], plan.temb); lin("time_embedding.linear_2", plan.temb, plan.temb)
    out_c = ch[0]
    for i, t in enumerate(cfg["down_block_types"]):
        in_c, out_c = out_c, ch[i]
        for j in range(lpb[i]):
            resnet(f"down_blocks.{i}.resnets.{j}", in_c if j == 0 else out_c, out_c)
            if t == "CrossAttnDownBlock2D":
                transformer(f"down_blocks.{i}.attentions.{j}", out_c, plan.layers[i])
        if i < len(ch) - 1:
            conv(f"down_blocks.{i}.downsamplers.0.conv", out_c, out_c)
    if plan.has_mid:
        resnet("mid_block.resnets.0", ch[-1], ch[-1])
        transformer("mid_block.attentions.0", ch[-1], plan.layers[-1])
        resnet("mid_block.resnets.1", ch[-1], ch[-1])
    rch = list(reversed(ch))
    rlayers = list(reversed(plan.layers))
    prev = rch[0]
    for i, t in enumerate(cfg["up_block_types"]):
        out_c, in_c = rch[i], rch[min(i + 1, len(ch) - 1)]
        for j in range(lpb[len(ch) - 1 - i] + 1):
            skip = in_c if j == lpb[len(ch) - 1 - i] else out_c
            resnet(f"up_blocks.{i}.resnets.{j}", (prev if j == 0 else out_c) + skip, out_c)
            if t == "CrossAttnUpBlock2D":
                transformer(f"up_blocks.{i}.attentions.{j}", out_c, rlayers[i])
        if i < len(ch) - 1:
            conv(f"up_blocks.{i}.upsamplers.0.conv", out_c, out_c)
        prev = out_c
    norm("conv_norm_out", ch[0]); conv("conv_out", ch[0], cfg["out_channels"])
    if cfg.get("addition_embed_type") == "text":
        d = cfg["cross_attention_dim"]
        norm("add_embedding.norm1", d)
        w["add_embedding.pool.positional_embedding"] = (torch.randn(1, d) / math.sqrt(d)).half().float()
        for proj in ("q_proj", "k_proj", "v_proj"):
            lin("add_embedding.pool." + proj, d, d)
        lin("add_embedding.proj", d, plan.temb); norm("add_embedding.norm2", plan.temb)
    if cfg.get("time_cond_proj_dim"):
        lin("time_embedding.cond_proj", cfg["time_cond_proj_dim"], cfg["block_out_channels"][0], bias=False)
    return w


def timestep_embedding(t, dim, flip, shift):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / (half - shift)
    args = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    if flip:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


def keep(v):
    return v


def forward(cfg, plan, w, x, t, ctx, cond=None, tome=None):
    """tome: optional token merging, tome(block_input, h, w, downsample) -> None or (merge, unmerge, cross, ff):
    merge/unmerge wrap self-attention (and cross-attention, the feed-forward when cross, ff), as tomesd patches
    diffusers' BasicTransformerBlock."""
    groups, eps = cfg["norm_num_groups"], cfg["norm_eps"]

    def linear(name, h, bias=True):
        wt = w[name + ".weight"]
        return F.linear(h, wt.reshape(wt.shape[0], wt.shape[1]), w[name + ".bias"] if bias else None)

    def conv(name, h, stride=1, pad=1):
        return F.conv2d(h, w[name + ".weight"], w[name + ".bias"], stride=stride, padding=pad)

    def gn(name, h, e):
        return F.group_norm(h, groups, w[name + ".weight"], w[name + ".bias"], eps=e)

    def ln(name, h):
        c = h.shape[-1]
        return F.layer_norm(h, (c,), w[name + ".weight"], w[name + ".bias"], eps=1e-5)

    def text_time_embedding(states):
        """diffusers' TextTimeEmbedding: LayerNorm, AttentionPooling (one query: the token mean plus a learned
        vector, over that query and the tokens; no output projection), Linear, LayerNorm."""
        heads = cfg["addition_embed_type_num_heads"]
        h = ln("add_embedding.norm1", states)
        b, n, c = h.shape
        d = c // heads
        query = h.mean(dim=1, keepdim=True) + w["add_embedding.pool.positional_embedding"]
        tokens = torch.cat([query, h], dim=1)
        split = lambda y: y.view(b, -1, heads, d).transpose(1, 2)
        q = split(linear("add_embedding.pool.q_proj", query))
        k = split(linear("add_embedding.pool.k_proj", tokens))
        v = split(linear("add_embedding.pool.v_proj", tokens))
        scale = 1 / math.sqrt(math.sqrt(d))
        a = torch.softmax((q * scale) @ (k * scale).transpose(-1, -2), dim=-1) @ v
        pooled = a.transpose(1, 2).reshape(b, c)
        return ln("add_embedding.norm2", linear("add_embedding.proj", pooled))

    def resnet(name, h, emb):
        y = conv(name + ".conv1", F.silu(gn(name + ".norm1", h, eps)))
        y = y + linear(name + ".time_emb_proj", F.silu(emb))[:, :, None, None]
        y = conv(name + ".conv2", F.silu(gn(name + ".norm2", y, eps)))
        if name + ".conv_shortcut.weight" in w:
            h = conv(name + ".conv_shortcut", h, pad=0)
        return h + y

    def attention(name, h, kv, heads):
        b, tq, c = h.shape
        tk = kv.shape[1]
        d = c // heads
        q = linear(name + ".to_q", h, False).view(b, tq, heads, d).transpose(1, 2)
        k = linear(name + ".to_k", kv, False).view(b, tk, heads, d).transpose(1, 2)
        v = linear(name + ".to_v", kv, False).view(b, tk, heads, d).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, dim=-1) @ v
        return linear(name + ".to_out.0", a.transpose(1, 2).reshape(b, tq, c))

    def transformer(name, h, heads, layers):
        b, c, hh, ww = h.shape
        residual = h
        y = gn(name + ".norm", h, 1e-6)
        if cfg["use_linear_projection"]:
            y = linear(name + ".proj_in", y.permute(0, 2, 3, 1).reshape(b, hh * ww, c))
        else:
            y = conv(name + ".proj_in", y, pad=0).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        for k in range(layers):
            bl = f"{name}.transformer_blocks.{k}"
            plan_ = tome(y, hh, ww, x.shape[-2] // hh) if tome else None
            m, u = plan_[:2] if plan_ else (keep, keep)
            mc, uc = (m, u) if plan_ and plan_[2] else (keep, keep)
            mf, uf = (m, u) if plan_ and plan_[3] else (keep, keep)
            y = u(attention(bl + ".attn1", m(ln(bl + ".norm1", y)), m(ln(bl + ".norm1", y)), heads)) + y
            y = uc(attention(bl + ".attn2", mc(ln(bl + ".norm2", y)), ctx, heads)) + y
            hidden, gate = linear(bl + ".ff.net.0.proj", mf(ln(bl + ".norm3", y))).chunk(2, dim=-1)
            y = uf(linear(bl + ".ff.net.2", hidden * F.gelu(gate))) + y
        if cfg["use_linear_projection"]:
            y = linear(name + ".proj_out", y).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        else:
            y = conv(name + ".proj_out", y.reshape(b, hh, ww, c).permute(0, 3, 1, 2), pad=0)
        return y + residual

    ch = cfg["block_out_channels"]
    lpb = plan.resnets
    temb = timestep_embedding(t, ch[0], cfg["flip_sin_to_cos"], cfg["freq_shift"])
    if cond is not None:  # diffusers' TimestepEmbedding: sample + cond_proj(condition), before linear_1
        temb = temb + linear("time_embedding.cond_proj", cond, bias=False)
    emb = linear("time_embedding.linear_2", F.silu(linear("time_embedding.linear_1", temb)))
    if cfg.get("addition_embed_type") == "text":
        emb = emb + text_time_embedding(ctx)
    h = conv("conv_in", x)
    skips = [h]
    for i, typ in enumerate(cfg["down_block_types"]):
        for j in range(lpb[i]):
            h = resnet(f"down_blocks.{i}.resnets.{j}", h, emb)
            if typ == "CrossAttnDownBlock2D":
                h = transformer(f"down_blocks.{i}.attentions.{j}", h, plan.heads[i], plan.layers[i])
            skips.append(h)
        if i < len(ch) - 1:
            h = conv(f"down_blocks.{i}.downsamplers.0.conv", h, stride=2, pad=1)
            skips.append(h)
    if plan.has_mid:
        h = resnet("mid_block.resnets.0", h, emb)
        h = transformer("mid_block.attentions.0", h, plan.heads[-1], plan.layers[-1])
        h = resnet("mid_block.resnets.1", h, emb)
    rheads, rlayers = list(reversed(plan.heads)), list(reversed(plan.layers))
    for i, typ in enumerate(cfg["up_block_types"]):
        for j in range(lpb[len(ch) - 1 - i] + 1):
            h = torch.cat([h, skips.pop()], dim=1)
            h = resnet(f"up_blocks.{i}.resnets.{j}", h, emb)
            if typ == "CrossAttnUpBlock2D":
                h = transformer(f"up_blocks.{i}.attentions.{j}", h, rheads[i], rlayers[i])
        if i < len(ch) - 1:
            h = conv(f"up_blocks.{i}.upsamplers.0.conv", F.interpolate(h, scale_factor=2.0, mode="nearest"))
    h = F.silu(gn("conv_norm_out", h, eps))
    return conv("conv_out", h)


def ldm_names(cfg, plan, weights):
    """Original-name → diffusers-name for every tensor, by walking the LDM openaimodel module order."""
    ch = cfg["block_out_channels"]
    lpb = plan.resnets
    prefixes = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
                "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out"}
    resnet_parts = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
                    "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}

    def add_resnet(orig, diff):
        for o, d in resnet_parts.items():
            prefixes[f"{orig}.{o}"] = f"{diff}.{d}"

    block = 1
    for i, typ in enumerate(cfg["down_block_types"]):
        for j in range(lpb[i]):
            add_resnet(f"input_blocks.{block}.0", f"down_blocks.{i}.resnets.{j}")
            if typ == "CrossAttnDownBlock2D":
                prefixes[f"input_blocks.{block}.1"] = f"down_blocks.{i}.attentions.{j}"
            block += 1
        if i < len(ch) - 1:
            prefixes[f"input_blocks.{block}.0.op"] = f"down_blocks.{i}.downsamplers.0.conv"
            block += 1
    if plan.has_mid:
        add_resnet("middle_block.0", "mid_block.resnets.0")
        prefixes["middle_block.1"] = "mid_block.attentions.0"
        add_resnet("middle_block.2", "mid_block.resnets.1")
    block = 0
    for i, typ in enumerate(cfg["up_block_types"]):
        for j in range(lpb[len(ch) - 1 - i] + 1):
            add_resnet(f"output_blocks.{block}.0", f"up_blocks.{i}.resnets.{j}")
            nxt = 1
            if typ == "CrossAttnUpBlock2D":
                prefixes[f"output_blocks.{block}.1"] = f"up_blocks.{i}.attentions.{j}"
                nxt = 2
            if j == lpb[len(ch) - 1 - i] and i < len(ch) - 1:
                prefixes[f"output_blocks.{block}.{nxt}.conv"] = f"up_blocks.{i}.upsamplers.0.conv"
            block += 1
    inverse = {}
    for name in weights:
        hits = [(d, o) for o, d in prefixes.items() if name.startswith(d + ".")]
        d, o = max(hits, key=lambda p: len(p[0]))
        inverse["model.diffusion_model." + o + name[len(d):]] = name
    return inverse


def main(only=None):
    torch.set_default_dtype(torch.float32)
    for seed, (name, extra) in enumerate(CONFIGS.items()):
        if only and name not in only:
            continue
        seeded(100 + seed)
        cfg = dict(COMMON, **extra)
        plan = Plan(cfg)
        w = make_weights(cfg, plan)
        comp = "unet/" + name
        d = out_dir(comp)
        write_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors"), w, dtype="F16")
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        x = torch.randn(2, 4, 8, 8)
        t = torch.tensor([999.0, 432.7])
        ctx = torch.randn(2, 7, 32)
        cond = torch.randn(2, cfg["time_cond_proj_dim"]) if cfg.get("time_cond_proj_dim") else None
        with torch.no_grad():
            y = forward(cfg, plan, w, x, t, ctx, cond)
        save(comp, "latents", x); save(comp, "timesteps", t); save(comp, "context", ctx); save(comp, "noise", y)
        if cond is not None:
            save(comp, "timestep_cond", cond)
        if "addition_embed_type" not in cfg and "time_cond_proj_dim" not in cfg:  # the original (LDM) layout has no such module
            with open(os.path.join(d, "ldm_names.json"), "w") as f:
                json.dump(ldm_names(cfg, plan, w), f, indent=1, sort_keys=True)
        print(name, len(w), "tensors", sum(v.numel() for v in w.values()), "params, |out| max",
              float(y.abs().max()), "std", float(y.std()))


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
