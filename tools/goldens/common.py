"""Shared helpers for the golden generators: deterministic tensors, .npy and safetensors output.

Run every generator with Debian's torch:  /usr/bin/python3 tools/goldens/<name>.py
Goldens land in src/test/resources/goldens/<component>/ and are committed; CI never needs torch.
"""
import json
import os
import struct

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDENS = os.path.join(ROOT, "src", "test", "resources", "goldens")


def out_dir(component):
    d = os.path.join(GOLDENS, component)
    os.makedirs(d, exist_ok=True)
    return d


def save(component, name, tensor):
    """Saves a tensor (NCHW for images, as torch produces them) as float32 .npy."""
    arr = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
    np.save(os.path.join(out_dir(component), name + ".npy"), arr.astype(np.float32))


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """Writes {name: torch tensor} in the safetensors layout (F32, F16 or BF16)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if dtype == "F32":
            b = t.to(torch.float32).numpy().tobytes()
        elif dtype == "F16":
            b = t.to(torch.float16).numpy().tobytes()
        elif dtype == "BF16":
            b = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def seeded(seed):
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
