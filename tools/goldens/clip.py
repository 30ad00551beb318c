"""Goldens for the CLIP tokenizer and text encoder.

(a) Token ids from a standalone Python CLIP BPE (written from the published algorithm, no transformers needed):
    goldens/clip/prompts.json (prompts and their unpadded ids) and tokens_sd1.npy / tokens_sd2.npy ([N][77] int32,
    padded with <|endoftext|> and with "!" respectively).
(b) A tiny random CLIP text transformer in torch.nn.functional (float64) with its safetensors checkpoints
    (F32, plus F16/BF16 copies whose outputs are computed from the rounded weights) and hidden states.

Run: /usr/bin/python3 tools/goldens/clip.py
"""
import json
import os
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F

from common import ROOT, out_dir, seeded, write_safetensors

C = "clip"
# the shared copy beside the repository, else the one the product ships (the same files)
VOCAB_DIR = os.path.join(ROOT, "..", "shared", "data", "clip_tokenizer")
if not os.path.isdir(VOCAB_DIR):
    VOCAB_DIR = os.path.join(ROOT, "src", "main", "resources", "dev", "edgediffuse", "tokenizer")


# ---------------------------------------------------------------- (a) tokenizer

def byte_chars():
    """Byte -> printable character; bytes that are not printable Latin-1 take U+0100 onwards in byte order."""
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


BYTE_CHARS = byte_chars()
SPECIALS = ("<|startoftext|>", "<|endoftext|>")
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")

with open(os.path.join(VOCAB_DIR, "vocab.json"), encoding="utf-8") as f:
    VOCAB = json.load(f)
with open(os.path.join(VOCAB_DIR, "merges.txt"), encoding="utf-8") as f:
    merge_lines = f.read().strip().split("\n")[1:49152 - 256 - 2 + 1]
RANKS = {tuple(line.split()): r for r, line in enumerate(merge_lines)}


def is_cjk(cp):
    blocks = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
    return any(a <= cp <= b for a, b in blocks)


def clean(text):
    """Controls dropped, whitespace to one space, ideographs isolated, NFC, lower case."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif ord(ch) in (0, 0xFFFD) or cat.startswith("C"):
            continue
        elif is_cjk(ord(ch)):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out))
    return " ".join(w.lower() for w in text.split())


def pre_split(text):
    """CLIP's split: specials | contractions | letter runs | one digit | runs of other non-space characters."""
    words, i, n = [], 0, len(text)
    letter = lambda c: unicodedata.category(c).startswith("L")
    number = lambda c: unicodedata.category(c).startswith("N")
    while i < n:
        c = text[i]
        hit = next((s for s in SPECIALS + CONTRACTIONS if text.startswith(s, i)), None)
        if hit:
            words.append(hit)
            i += len(hit)
        elif letter(c):
            j = i
            while j < n and letter(text[j]):
                j += 1
            words.append(text[i:j])
            i = j
        elif number(c):
            words.append(c)
            i += 1
        elif c.isspace():
            i += 1
        else:
            j = i
            while j < n and not (text[j].isspace() or letter(text[j]) or number(text[j])):
                j += 1
            words.append(text[i:j])
            i = j
    return words


def merge_word(symbols):
    while len(symbols) > 1:
        ranked = [(RANKS[p], p) for p in zip(symbols, symbols[1:]) if p in RANKS]
        if not ranked:
            break
        _, (a, b) = min(ranked)
        merged, k = [], 0
        while k < len(symbols):
            if k + 1 < len(symbols) and symbols[k] == a and symbols[k + 1] == b:
                merged.append(a + b)
                k += 2
            else:
                merged.append(symbols[k])
                k += 1
        symbols = merged
    return symbols


def tokenize(prompt, specials=SPECIALS):
    """Ids without BOS/EOS. Every special token (SD2's pad token "!" too) is cut out of the raw prompt first, as
    transformers' CLIPTokenizer splits on its added tokens: an SD2 prompt's literal "!" becomes id 0, not "!</w>"."""
    ids = []
    pieces, rest = [], prompt
    while True:
        at = [(rest.find(s), s) for s in specials if rest.find(s) >= 0]
        if not at:
            pieces.append(rest)
            break
        pos, s = min(at)
        pieces += [rest[:pos], s]
        rest = rest[pos + len(s):]
    for piece in pieces:
        if piece in specials:
            ids.append(VOCAB[piece])
            continue
        for word in pre_split(clean(piece)):
            if word in SPECIALS:
                ids.append(VOCAB[word])
                continue
            symbols = [BYTE_CHARS[b] for b in word.encode("utf-8")]
            symbols[-1] += "</w>"
            ids += [VOCAB.get(s, VOCAB["<|endoftext|>"]) for s in merge_word(symbols)]
    return ids


def encode(prompt, pad):
    """77 ids padded with the pad token; a pad token other than EOS (SD2's "!") is special in the prompt too."""
    body = tokenize(prompt, SPECIALS + (pad,) if pad not in SPECIALS else SPECIALS)[:75]
    ids = [VOCAB["<|startoftext|>"]] + body + [VOCAB["<|endoftext|>"]]
    return ids + [VOCAB[pad]] * (77 - len(ids))


PROMPTS = [
    "a photo of a cat",
    "A Photo of an Astronaut riding a HORSE on Mars, highly detailed, 8k, trending on artstation!!!",
    "don't stop, it's what we'll do; they've said I'm sure you'd say we're DONE'S",
    "caf\u00e9 r\u00e9sum\u00e9 na\u00efve \u00c5ngstr\u00f6m cafe\u0301 (decomposed)",
    "\U0001F431 cat emoji \U0001F680\u2728 and \U0001F469\u200d\U0001F680 astronaut",
    "\u6771\u4eac\u30bf\u30ef\u30fc \u591c\u666f \ud55c\uad6d\uc5b4 \u4e2d\u6587abc",
    "numbers 1234567 3.14 1,000 \u00bd x\u00b2 \u0663",
    "   multiple    spaces\tand\ttabs\nnew\r\nlines   ",
    "",
    " ".join(["a very long prompt with many words, repeated to overflow the seventy-seven token window"] * 6),
    "<|startoftext|>literal<|endoftext|> specials !<|endoftext|>",
    "\u039f\u0394\u039f\u03a3 Stra\u00dfe \u0130stanbul",
    "!!!'s (parentheses) [brackets] {braces} <angle> #hash @at $dollar % ...",
    "a\u00a0b\u3000c\u200bd\x00e\ufffdf\x0bg",
    "wow!! a cat! hello ! world!",
]

if __name__ == "__main__":
    assert tokenize("a photo of a cat") == [320, 1125, 539, 320, 2368], tokenize("a photo of a cat")
    d = out_dir(C)
    unpadded = [tokenize(p) for p in PROMPTS]
    with open(os.path.join(d, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump({"prompts": PROMPTS, "tokens": unpadded}, f, ensure_ascii=True, indent=0)
    np.save(os.path.join(d, "tokens_sd1.npy"), np.array([encode(p, "<|endoftext|>") for p in PROMPTS], np.int32))
    np.save(os.path.join(d, "tokens_sd2.npy"), np.array([encode(p, "!") for p in PROMPTS], np.int32))
    for p, ids in zip(PROMPTS, unpadded):
        print(len(ids), repr(p)[:60], ids[:12])


# ---------------------------------------------------------------- (b) text transformer

def random_weights(cfg, seed):
    g = seeded(seed)
    h, m, v, p = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["max_position_embeddings"]
    rn = lambda *s, scale=1.0: torch.randn(*s, generator=g, dtype=torch.float64) * scale
    w = {"text_model.embeddings.token_embedding.weight": rn(v, h, scale=0.5),
         "text_model.embeddings.position_embedding.weight": rn(p, h, scale=0.2)}
    for i in range(cfg["num_hidden_layers"]):
        pre = f"text_model.encoder.layers.{i}."
        for n in ("layer_norm1", "layer_norm2"):
            w[pre + n + ".weight"] = 1 + rn(h, scale=0.1)
            w[pre + n + ".bias"] = rn(h, scale=0.1)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[pre + "self_attn." + n + ".weight"] = rn(h, h, scale=h ** -0.5)
            w[pre + "self_attn." + n + ".bias"] = rn(h, scale=0.1)
        w[pre + "mlp.fc1.weight"] = rn(m, h, scale=h ** -0.5)
        w[pre + "mlp.fc1.bias"] = rn(m, scale=0.1)
        w[pre + "mlp.fc2.weight"] = rn(h, m, scale=m ** -0.5)
        w[pre + "mlp.fc2.bias"] = rn(h, scale=0.1)
    w["text_model.final_layer_norm.weight"] = 1 + rn(h, scale=0.1)
    w["text_model.final_layer_norm.bias"] = rn(h, scale=0.1)
    return w


def text_encoder(w, cfg, ids, skip_last=0):
    """Pre-LN causal transformer; final_layer_norm applied after layer (layers - skip_last)."""
    h, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    d = h // heads
    B, T = ids.shape
    x = w["text_model.embeddings.token_embedding.weight"][ids] + w["text_model.embeddings.position_embedding.weight"][:T]
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for i in range(cfg["num_hidden_layers"] - skip_last):
        p = lambda n: w[f"text_model.encoder.layers.{i}.{n}"]
        y = F.layer_norm(x, (h,), p("layer_norm1.weight"), p("layer_norm1.bias"), eps)
        proj = lambda n: F.linear(y, p(f"self_attn.{n}.weight"), p(f"self_attn.{n}.bias")).view(B, T, heads, d).transpose(1, 2)
        q, k, v = proj("q_proj"), proj("k_proj"), proj("v_proj")
        s = (q @ k.transpose(-1, -2)) * d ** -0.5
        a = s.masked_fill(future, float("-inf")).softmax(-1) @ v
        a = a.transpose(1, 2).reshape(B, T, h)
        x = x + F.linear(a, p("self_attn.out_proj.weight"), p("self_attn.out_proj.bias"))
        y = F.layer_norm(x, (h,), p("layer_norm2.weight"), p("layer_norm2.bias"), eps)
        y = F.linear(y, p("mlp.fc1.weight"), p("mlp.fc1.bias"))
        y = y * torch.sigmoid(1.702 * y) if cfg["hidden_act"] == "quick_gelu" else F.gelu(y)
        x = x + F.linear(y, p("mlp.fc2.weight"), p("mlp.fc2.bias"))
    return F.layer_norm(x, (h,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"], eps)


def rounded(w, dtype):
    return {k: t.to(dtype).to(torch.float64) for k, t in w.items()}


def save_f32(name, t):
    np.save(os.path.join(out_dir(C), name + ".npy"), t.numpy().astype(np.float32))


CONFIGS = {
    "sd1": {"architectures": ["CLIPTextModel"], "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
            "num_hidden_layers": 3, "max_position_embeddings": 77, "vocab_size": 1000, "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float32"},
    "sd2": {"architectures": ["CLIPTextModel"], "hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 3,
            "num_hidden_layers": 2, "max_position_embeddings": 77, "vocab_size": 800, "hidden_act": "gelu",
            "layer_norm_eps": 1e-5, "torch_dtype": "float32"},
}

if __name__ == "__main__":
    for seed, (name, cfg) in enumerate(CONFIGS.items(), start=11):
        d = os.path.join(out_dir(C), name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        w = random_weights(cfg, seed)
        # two real prompts folded into the tiny vocabulary
        padded = np.load(os.path.join(out_dir(C), f"tokens_{name}.npy"))[[0, 1]].astype(np.int64) % cfg["vocab_size"]
        ids = torch.from_numpy(padded)
        np.save(os.path.join(out_dir(C), f"{name}_ids.npy"), padded.astype(np.int32))
        write_safetensors(os.path.join(d, "model.safetensors"), w, "F32")
        save_f32(f"{name}_hidden", text_encoder(w, cfg, ids))
        save_f32(f"{name}_hidden_skip1", text_encoder(w, cfg, ids, skip_last=1))
        if name == "sd1":
            write_safetensors(os.path.join(d, "model.f16.safetensors"), w, "F16")
            write_safetensors(os.path.join(d, "model.bf16.safetensors"), w, "BF16")
            save_f32(f"{name}_hidden_f16", text_encoder(rounded(w, torch.float16), cfg, ids))
            save_f32(f"{name}_hidden_bf16", text_encoder(rounded(w, torch.bfloat16), cfg, ids))
