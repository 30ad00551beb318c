#!/usr/bin/env python3
"""Brightness of generated Fashion-MNIST images against the real test images, per class.

Reads contact sheets written by `edgediffuse grid --zoom 1 --seeds N` (one row per class in Fashion-MNIST's label
order, the default prompts; 32x32 tiles, the 28x28 centre is the image) and prints, per class, the mean of the
"ink" pixels (above 0.05) of the generated tiles divided by that of the real test images of the class, and the mean
of each image's brightest pixel (every real test image reaches 254 or 255 of 255). Needs numpy only.

    python3 tools/intensity.py sheet.png [more.png ...] [--data /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import struct
import zlib

import numpy as np

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
INK = 0.05


def read_png(path):
    """8-bit greyscale, RGB or RGBA PNG (non-interlaced) as an array [h, w, channels]."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise SystemExit(f"{path}: {e.strerror}")
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG file")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (0, 2, 6) or body[12] != 0:
                raise SystemExit(f"{path}: only 8-bit non-interlaced grey/RGB/RGBA PNGs are read")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = {0: 1, 2: 3, 6: 4}[colour]
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prev) & 255
        else:  # sub, average, Paeth: each byte depends on the one to its left
            row = np.zeros(stride, np.int32)
            for x in range(stride):
                left = row[x - channels] if x >= channels else 0
                up_left = prev[x - channels] if x >= channels else 0
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + prev[x]) // 2
                else:
                    p = left + prev[x] - up_left
                    pa, pb, pc = abs(p - left), abs(p - prev[x]), abs(p - up_left)
                    pred = left if pa <= pb and pa <= pc else (prev[x] if pb <= pc else up_left)
                row[x] = (line[x] + pred) & 255
        out[y] = row
        prev = row
    return out.reshape(height, width, channels)


def read_idx(path, header):
    try:
        return np.frombuffer(gzip.open(path).read()[header:], np.uint8)
    except OSError as e:
        raise SystemExit(f"{path}: {e.strerror or e} (install dataset-fashion-mnist or pass --data)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sheets", nargs="+")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    images = read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28) / 255.0
    labels = read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz", 8)
    real_ink = [images[labels == c][images[labels == c] > INK].mean() for c in range(10)]
    real_max = images.reshape(len(images), -1).max(axis=1).mean()
    for path in a.sheets:
        grey = read_png(path)[:, :, 0] / 255.0
        if grey.shape[0] != 320 or grey.shape[1] % 32:
            raise SystemExit(f"{path}: expected 10 rows of 32x32 tiles (grid --zoom 1), got {grey.shape[1]}x{grey.shape[0]}")
        seeds = grey.shape[1] // 32
        tiles = grey.reshape(10, 32, seeds, 32).transpose(0, 2, 1, 3)[:, :, 2:30, 2:30]
        ratios = [tiles[c][tiles[c] > INK].mean() / real_ink[c] for c in range(10)]
        brightest = tiles.reshape(10, seeds, -1).max(axis=2).mean()
        print(f"{path}: {seeds} images per class; ink intensity against the test images "
              f"{np.mean(ratios):.3f} on average, brightest pixel {brightest:.3f} on average (real: {real_max:.3f})")
        print("  " + ", ".join(f"{name} {r:.3f}" for name, r in zip(CLASSES, ratios)))


if __name__ == "__main__":
    main()
