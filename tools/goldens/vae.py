"""Goldens for the VAEs (model package): a tiny AutoencoderKL and a tiny TAESD with random weights.

The reference forward passes below are written directly with torch.nn.functional from the diffusers semantics
(eps 1e-6 group norms, (0,1,0,1)-padded stride-2 downsampling, reversed decoder levels with layers_per_block+1
resnets, single-head mid-block attention with a residual; TAESD's conv-relu blocks and tanh(z/3)*3 clamp).
Weights are written under diffusers names and again under the original LDM / taesd names.
Run with Debian's torch:  /usr/bin/python3 tools/goldens/vae.py
"""
import json
import os

import torch
import torch.nn.functional as F

from common import out_dir, save, seeded, write_safetensors

EPS = 1e-6


class Params:
    def __init__(self):
        self.t = {}

    def conv(self, name, cin, cout, k, bias=True, gain=1.0):
        self.t[name + ".weight"] = torch.randn(cout, cin, k, k) * gain / (cin * k * k) ** 0.5
        if bias:
            self.t[name + ".bias"] = torch.randn(cout) * 0.1

    def linear(self, name, cin, cout):
        self.t[name + ".weight"] = torch.randn(cout, cin) / cin ** 0.5
        self.t[name + ".bias"] = torch.randn(cout) * 0.1

    def norm(self, name, c):
        self.t[name + ".weight"] = 1 + 0.1 * torch.randn(c)
        self.t[name + ".bias"] = 0.1 * torch.randn(c)


# ---------------------------------------------------------------- AutoencoderKL
KL = dict(_class_name="AutoencoderKL", act_fn="silu", in_channels=3, out_channels=3, latent_channels=4,
          block_out_channels=[8, 16, 16], layers_per_block=1, norm_num_groups=4, sample_size=32,
          scaling_factor=0.18215, down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3)


def kl_params(cfg):
    p = Params()
    ch, L, lat = cfg["block_out_channels"], cfg["layers_per_block"], cfg["latent_channels"]

    def resnet(name, cin, cout):
        p.norm(name + ".norm1", cin); p.conv(name + ".conv1", cin, cout, 3)
        p.norm(name + ".norm2", cout); p.conv(name + ".conv2", cout, cout, 3)
        if cin != cout:
            p.conv(name + ".conv_shortcut", cin, cout, 1)

    def mid(name, c):
        resnet(name + ".resnets.0", c, c)
        a = name + ".attentions.0"
        p.norm(a + ".group_norm", c)
        for proj in ("to_q", "to_k", "to_v", "to_out.0"):
            p.linear(a + "." + proj, c, c)
        resnet(name + ".resnets.1", c, c)

    p.conv("encoder.conv_in", cfg["in_channels"], ch[0], 3)
    prev = ch[0]
    for i, c in enumerate(ch):
        for j in range(L):
            resnet(f"encoder.down_blocks.{i}.resnets.{j}", prev if j == 0 else c, c)
        if i < len(ch) - 1:
            p.conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", c, c, 3)
        prev = c
    mid("encoder.mid_block", ch[-1])
    p.norm("encoder.conv_norm_out", ch[-1]); p.conv("encoder.conv_out", ch[-1], 2 * lat, 3)
    p.conv("quant_conv", 2 * lat, 2 * lat, 1); p.conv("post_quant_conv", lat, lat, 1)
    p.conv("decoder.conv_in", lat, ch[-1], 3)
    mid("decoder.mid_block", ch[-1])
    prev = ch[-1]
    for i, c in enumerate(reversed(ch)):
        for j in range(L + 1):
            resnet(f"decoder.up_blocks.{i}.resnets.{j}", prev if j == 0 else c, c)
        if i < len(ch) - 1:
            p.conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", c, c, 3)
        prev = c
    p.norm("decoder.conv_norm_out", ch[0]); p.conv("decoder.conv_out", ch[0], cfg["out_channels"], 3)
    return p.t


def gn(t, name, x, groups, silu):
    y = F.group_norm(x, groups, t[name + ".weight"], t[name + ".bias"], eps=EPS)
    return F.silu(y) if silu else y


def conv(t, name, x, **kw):
    return F.conv2d(x, t[name + ".weight"], t.get(name + ".bias"), **kw)


def kl_resnet(t, name, x, g):
    h = conv(t, name + ".conv1", gn(t, name + ".norm1", x, g, True), padding=1)
    h = conv(t, name + ".conv2", gn(t, name + ".norm2", h, g, True), padding=1)
    skip = conv(t, name + ".conv_shortcut", x) if name + ".conv_shortcut.weight" in t else x
    return skip + h


def kl_attention(t, name, x, g):
    b, c, h, w = x.shape
    seq = gn(t, name + ".group_norm", x, g, False).reshape(b, c, h * w).transpose(1, 2)
    q, k, v = (F.linear(seq, t[f"{name}.{p}.weight"], t[f"{name}.{p}.bias"]) for p in ("to_q", "to_k", "to_v"))
    probs = torch.softmax(q @ k.transpose(1, 2) / c ** 0.5, dim=-1)
    o = F.linear(probs @ v, t[name + ".to_out.0.weight"], t[name + ".to_out.0.bias"])
    return x + o.transpose(1, 2).reshape(b, c, h, w)


def kl_mid(t, name, x, g):
    x = kl_resnet(t, name + ".resnets.0", x, g)
    x = kl_attention(t, name + ".attentions.0", x, g)
    return kl_resnet(t, name + ".resnets.1", x, g)


def kl_encode_moments(t, cfg, x):
    ch, L, g = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
    x = conv(t, "encoder.conv_in", x, padding=1)
    for i in range(len(ch)):
        for j in range(L):
            x = kl_resnet(t, f"encoder.down_blocks.{i}.resnets.{j}", x, g)
        if i < len(ch) - 1:
            x = conv(t, f"encoder.down_blocks.{i}.downsamplers.0.conv", F.pad(x, (0, 1, 0, 1)), stride=2)
    x = kl_mid(t, "encoder.mid_block", x, g)
    x = conv(t, "encoder.conv_out", gn(t, "encoder.conv_norm_out", x, g, True), padding=1)
    return conv(t, "quant_conv", x)


def kl_decode(t, cfg, z):
    ch, L, g = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
    x = conv(t, "decoder.conv_in", conv(t, "post_quant_conv", z), padding=1)
    x = kl_mid(t, "decoder.mid_block", x, g)
    for i in range(len(ch)):
        for j in range(L + 1):
            x = kl_resnet(t, f"decoder.up_blocks.{i}.resnets.{j}", x, g)
        if i < len(ch) - 1:
            x = conv(t, f"decoder.up_blocks.{i}.upsamplers.0.conv", F.interpolate(x, scale_factor=2.0, mode="nearest"), padding=1)
    return conv(t, "decoder.conv_out", gn(t, "decoder.conv_norm_out", x, g, True), padding=1)


def kl_original_names(t, cfg):
    """Renames diffusers tensors to the LDM single-file names (with first_stage_model.), attention as 1x1 convs."""
    n = len(cfg["block_out_channels"])
    out = {}
    for name, v in t.items():
        o = name
        for a, b in ((".conv_shortcut", ".nin_shortcut"), (".downsamplers.0.conv", ".downsample.conv"),
                     (".upsamplers.0.conv", ".upsample.conv"), (".conv_norm_out", ".norm_out"),
                     ("mid_block.resnets.0", "mid.block_1"), ("mid_block.resnets.1", "mid.block_2"),
                     ("mid_block.attentions.0", "mid.attn_1"), ("attn_1.group_norm", "attn_1.norm"),
                     ("attn_1.to_q", "attn_1.q"), ("attn_1.to_k", "attn_1.k"), ("attn_1.to_v", "attn_1.v"),
                     ("attn_1.to_out.0", "attn_1.proj_out")):
            o = o.replace(a, b)
        parts = o.split(".")
        if parts[1] == "down_blocks":
            o = ".".join(["encoder", "down", parts[2], "block" if parts[3] == "resnets" else parts[3]] + parts[4:])
        elif parts[1] == "up_blocks":
            level = str(n - 1 - int(parts[2]))
            o = ".".join(["decoder", "up", level, "block" if parts[3] == "resnets" else parts[3]] + parts[4:])
        if ".attn_1." in o and v.dim() == 2:
            v = v.reshape(v.shape[0], v.shape[1], 1, 1)
        out["first_stage_model." + o] = v
    return out


def make_kl():
    d = out_dir("vae/kl")
    seeded(11)
    t = kl_params(KL)
    write_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors"), t)
    write_safetensors(os.path.join(d, "original.safetensors"), kl_original_names(t, KL))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(KL, f, indent=2)
    sf, lat = KL["scaling_factor"], KL["latent_channels"]
    z = torch.randn(1, lat, 8, 8)
    save("vae/kl", "decode_latents", z)
    save("vae/kl", "decode_out", kl_decode(t, KL, z / sf))
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    save("vae/kl", "encode_image", img)
    moments = kl_encode_moments(t, KL, img)
    mean, logvar = moments[:, :lat], moments[:, lat:].clamp(-30.0, 20.0)
    save("vae/kl", "encode_mean", mean * sf)
    noise = torch.randn_like(mean)
    save("vae/kl", "encode_noise", noise)
    save("vae/kl", "encode_sample", (mean + torch.exp(0.5 * logvar) * noise) * sf)


# ---------------------------------------------------------------- TAESD (AutoencoderTiny)
TINY = dict(_class_name="AutoencoderTiny", act_fn="relu", in_channels=3, out_channels=3, latent_channels=4,
            encoder_block_out_channels=[8, 8, 8], decoder_block_out_channels=[8, 8, 8],
            num_encoder_blocks=[1, 2, 1], num_decoder_blocks=[2, 1, 1], upsampling_scaling_factor=2,
            upsample_fn="nearest", latent_magnitude=3, latent_shift=0.5, scaling_factor=1.0, shift_factor=0.0)


def tiny_layers(cfg):
    """(diffusers index, kind, cin, cout) for both stacks; kinds: conv, conv_s2 (no bias), conv_nb, block, relu, up."""
    enc, ch = [], cfg["encoder_block_out_channels"]
    for i, nb in enumerate(cfg["num_encoder_blocks"]):
        enc.append(("conv", cfg["in_channels"], ch[0]) if i == 0 else ("conv_s2", ch[i - 1], ch[i]))
        enc += [("block", ch[i], ch[i])] * nb
    enc.append(("conv", ch[-1], cfg["latent_channels"]))
    dec, ch = [("conv", cfg["latent_channels"], ch[0]), ("relu", 0, 0)], cfg["decoder_block_out_channels"]
    for i, nb in enumerate(cfg["num_decoder_blocks"]):
        last = i == len(ch) - 1
        dec += [("block", ch[i], ch[i])] * nb
        if not last:
            dec.append(("up", 0, 0))
        dec.append(("conv", ch[i], cfg["out_channels"]) if last else ("conv_nb", ch[i], ch[i]))
    return enc, dec


def tiny_params(prefix, layers):
    p = Params()
    for k, (kind, cin, cout) in enumerate(layers):
        name = f"{prefix}.{k}"
        if kind in ("conv", "conv_s2", "conv_nb"):
            p.conv(name, cin, cout, 3, bias=kind == "conv", gain=2 ** 0.5)
        elif kind == "block":
            for c in (0, 2, 4):
                p.conv(f"{name}.conv.{c}", cin if c == 0 else cout, cout, 3, gain=2 ** 0.5 if c < 4 else 0.7)
    return p.t


def tiny_run(t, prefix, layers, x):
    for k, (kind, cin, cout) in enumerate(layers):
        name = f"{prefix}.{k}"
        if kind == "conv" or kind == "conv_nb":
            x = conv(t, name, x, padding=1)
        elif kind == "conv_s2":
            x = conv(t, name, x, padding=1, stride=2)
        elif kind == "relu":
            x = F.relu(x)
        elif kind == "up":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            h = F.relu(conv(t, name + ".conv.0", x, padding=1))
            h = F.relu(conv(t, name + ".conv.2", h, padding=1))
            x = F.relu(conv(t, name + ".conv.4", h, padding=1) + x)
    return x


def make_tiny():
    d = out_dir("vae/tiny")
    seeded(12)
    enc, dec = tiny_layers(TINY)
    te, td = tiny_params("encoder.layers", enc), tiny_params("decoder.layers", dec)
    write_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors"), {**te, **td})
    write_safetensors(os.path.join(d, "taesd_encoder.safetensors"),
                      {k[len("encoder.layers."):]: v for k, v in te.items()})
    renamed = {}
    for k, v in td.items():
        rest = k[len("decoder.layers."):]
        idx, tail = rest.split(".", 1)
        renamed[f"{int(idx) + 1}.{tail}"] = v
    write_safetensors(os.path.join(d, "taesd_decoder.safetensors"), renamed)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(TINY, f, indent=2)
    z = torch.randn(1, 4, 8, 8) * 2
    save("vae/tiny", "decode_latents", z)
    zz = torch.tanh(z / TINY["scaling_factor"] / 3) * 3
    save("vae/tiny", "decode_out", tiny_run(td, "decoder.layers", dec, zz) * 2 - 1)
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    save("vae/tiny", "encode_image", img)
    save("vae/tiny", "encode_out", tiny_run(te, "encoder.layers", enc, (img + 1) / 2) * TINY["scaling_factor"])


if __name__ == "__main__":
    torch.set_default_dtype(torch.float32)
    make_kl()
    make_tiny()
