"""Goldens for LoRA files (lora.LoraFile, lora.Adapters, lora.LoraMerge).

Two LoRA files for the tiny SD1 UNet golden (unet/sd1_tiny, fp16) and the tiny SD1 text encoder golden (clip/sd1):
  kohya.safetensors  kohya / sd-scripts names (lora_unet_<module with dots as underscores>.lora_down.weight,
                     .lora_up.weight, .alpha; lora_te_...), fp16 factors as kohya saves them: linear layers, a 1x1-conv
                     projection with conv-shaped factors, a 3x3 conv (LoCon: k x k down, 1x1 up), a 1x1 conv shortcut,
                     multi-word module names (ff.net.0.proj, time_emb_proj, to_out.0), text-encoder layers;
  peft.safetensors   diffusers / PEFT names (unet.<module>.lora_A.weight = down, .lora_B.weight = up;
                     text_encoder.<module>...), f32, no alpha (scale 1), one layer shared with the kohya file.
merged.safetensors holds, for every adapted layer, W + sum(multiplier * alpha/rank * up @ down) computed in float64 from
the fp16/f32 base weights (kohya file at multiplier 0.8, PEFT file at 1.0), stored as f32. The script also checks, for
the conv layers, that a convolution with the merged kernel equals the base convolution plus the branch
conv1x1(up, conv(down, x)) - the run-time semantics of a conv LoRA.

Run: /usr/bin/python3 tools/goldens/lora.py
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

from common import GOLDENS, out_dir, seeded, write_safetensors

KOHYA_MULTIPLIER, PEFT_MULTIPLIER = 0.8, 1.0

# (component, module, rank, alpha or None)
KOHYA = [
    ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", 4, 2.0),
    ("unet", "down_blocks.0.attentions.0.proj_in", 2, None),
    ("unet", "down_blocks.1.resnets.0.conv1", 3, 1.5),
    ("unet", "down_blocks.1.resnets.0.conv_shortcut", 2, 4.0),
    ("unet", "down_blocks.1.resnets.0.time_emb_proj", 2, 1.0),
    ("unet", "mid_block.attentions.0.transformer_blocks.0.attn2.to_k", 4, 4.0),
    ("unet", "mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0", 2, 1.0),
    ("unet", "up_blocks.1.attentions.2.transformer_blocks.0.ff.net.0.proj", 3, 3.0),
    ("unet", "time_embedding.linear_1", 2, 2.0),
    ("text_encoder", "text_model.encoder.layers.1.self_attn.q_proj", 4, 2.0),
    ("text_encoder", "text_model.encoder.layers.2.mlp.fc2", 2, 1.0),
]
PEFT = [
    ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", 2),
    ("unet", "up_blocks.1.resnets.2.conv2", 2),
    ("text_encoder", "text_model.encoder.layers.0.self_attn.v_proj", 3),
]


def read_safetensors(path):
    """{name: float64 numpy array} of a safetensors file (F32/F16 tensors)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "F16": np.float16}[d["dtype"]]
        b, e = d["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(d["shape"]).astype(np.float64)
    return out


def factors(shape, rank, g):
    """Random down/up for a base weight of `shape`: down [r][in](k k), up [out][r](1 1) as a conv LoRA has them."""
    out, rest = shape[0], list(shape[1:])
    down = torch.randn([rank] + rest, generator=g) * 0.3
    up = torch.randn([out, rank] + [1] * (len(shape) - 2), generator=g) * 0.3
    return down, up


def delta(down, up, shape):
    r = down.shape[0]
    return (up.reshape(shape[0], r).double() @ down.reshape(r, -1).double()).reshape(shape)


def check_conv(w, down, up, scale):
    """conv(x, W + s*up@down) == conv(x, W) + s*conv1x1(conv(x, down), up) (same padding), in float64."""
    if w.dim() != 4:
        return
    k = w.shape[-1]
    x = torch.randn(1, w.shape[1], 6, 6, dtype=torch.float64)
    merged = F.conv2d(x, w + scale * delta(down, up, w.shape), padding=k // 2)
    branch = F.conv2d(x, w, padding=k // 2) + scale * F.conv2d(F.conv2d(x, down.double(), padding=k // 2), up.double())
    assert torch.allclose(merged, branch, atol=1e-10), "conv LoRA semantics"


def main():
    base = {"unet": read_safetensors(os.path.join(GOLDENS, "unet", "sd1_tiny", "diffusion_pytorch_model.safetensors")),
            "text_encoder": read_safetensors(os.path.join(GOLDENS, "clip", "sd1", "model.safetensors"))}
    merged = {}

    def add(component, module, down, up, scale):
        name = module + ".weight"
        w = merged.get((component, name))
        if w is None:
            w = torch.from_numpy(base[component][name])
        check_conv(torch.from_numpy(base[component][name]), down, up, scale)
        merged[(component, name)] = w + scale * delta(down, up, w.shape)

    g = seeded(38)
    kohya, metadata = {}, {"ss_network_module": "networks.lora", "ss_network_dim": "4", "ss_network_alpha": "2.0"}
    for component, module, rank, alpha in KOHYA:
        down, up = factors(base[component][module + ".weight"].shape, rank, g)
        down, up = down.half().float(), up.half().float()  # the file holds fp16, the merge sees those values
        key = ("lora_unet_" if component == "unet" else "lora_te_") + module.replace(".", "_")
        kohya[key + ".lora_down.weight"] = down
        kohya[key + ".lora_up.weight"] = up
        if alpha is not None:
            kohya[key + ".alpha"] = torch.tensor(alpha)
        add(component, module, down, up, KOHYA_MULTIPLIER * ((alpha / rank) if alpha is not None else 1.0))
    peft = {}
    for component, module, rank in PEFT:
        down, up = factors(base[component][module + ".weight"].shape, rank, g)
        prefix = "unet." if component == "unet" else "text_encoder."
        peft[prefix + module + ".lora_A.weight"] = down
        peft[prefix + module + ".lora_B.weight"] = up
        add(component, module, down, up, PEFT_MULTIPLIER)

    d = out_dir("lora")
    write_safetensors(os.path.join(d, "kohya.safetensors"), kohya, dtype="F16", metadata=metadata)
    write_safetensors(os.path.join(d, "peft.safetensors"), peft, dtype="F32")
    write_safetensors(os.path.join(d, "merged.safetensors"),
                      {component + "/" + name: w.float() for (component, name), w in merged.items()}, dtype="F32")
    print("wrote", d, len(kohya), "kohya tensors,", len(peft), "PEFT tensors,", len(merged), "merged weights")


if __name__ == "__main__":
    main()
