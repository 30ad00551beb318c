#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora under src/test/resources/dev/edgediffuse/fuzz/ (deterministic; rerunning
rewrites the same bytes). Seeds of the FuzzedDataProvider targets are plain bytes: Jazzer reads integral choices from
their end and strings/bytes from their start. The real handoff seed is written by HandoffFuzzTest's own code."""
import json, os, struct, zlib, random

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "test", "resources", "dev", "edgediffuse", "fuzz")
REPO = os.path.join(os.path.dirname(__file__), "..", "..")


def put(target, method, name, data):
    d = os.path.join(ROOT, target + "Inputs", method)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def png(w, h, text=None):
    raw = b"".join(b"\0" + bytes((x * 40 + y * 7) % 256 for x in range(w * 3)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    if text:
        out += chunk(b"tEXt", b"parameters\0" + text.encode("latin-1"))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def npy(shape, descr="<f4", count=None):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join(f"{s}," for s in shape))
    pad = (64 - (10 + len(d) + 1) % 64) % 64
    header = (d + " " * pad + "\n").encode()
    n = 1
    for s in shape:
        n *= s
    width = 8 if descr.endswith("8") else 4
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(width * (n if count is None else count))


def main():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    put("SafeTensorsFuzzTest", "file", "two-floats", safetensors([("a", "F32", [2], f32(1, 2)), ("b", "F16", [2], b"\0\x3c\0\x3c")]))
    put("SafeTensorsFuzzTest", "file", "position-ids", safetensors([("w.weight", "BF16", [1, 2], b"\x80\x3f\x80\x3f"),
                                                                  ("text_model.embeddings.position_ids", "I64", [1, 2], bytes(16))],
                                                                 {"format": "pt"}))
    q = json.dumps({"w": {"format": "q8", "shape": [2, 4]}, "b": {"format": "f32"}})
    put("SafeTensorsFuzzTest", "file", "quantized-q8", safetensors([("w", "I8", [2, 4], bytes(range(8))), ("w.scales", "F32", [2], f32(0.5, 0.25)),
                                                                  ("b", "F32", [1], f32(3))],
                                                                 {"edgediffuse.weights": q, "edgediffuse.quant_version": "1"}))
    qz = json.dumps({"w": {"format": "q4_32z", "shape": [1, 32]}})
    put("SafeTensorsFuzzTest", "file", "quantized-q4z", safetensors([("w", "U8", [1, 16], bytes(16)), ("w.scales", "F16", [1, 1], b"\0\x3c"),
                                                                   ("w.zeros", "U8", [1, 1], b"\x08")], {"edgediffuse.weights": qz}))
    put("SafeTensorsFuzzTest", "file", "empty-header", safetensors([]))
    rnd = random.Random(40)
    for i in range(3):
        put("SafeTensorsFuzzTest", "quantizedMetadata", f"random-{i}", bytes(rnd.randrange(256) for _ in range(64)))
    put("SafeTensorsFuzzTest", "quantizedMetadata", "q8-metadata", q.encode() + bytes([1, 2, 4, 1, 1, 1, 8, 1, 0, 1, 1, 1]))

    for name, text in [("object", '{"a": 1, "b": [1.5, -2, "x\\u00e9", null, true], "c": {"d": NaN}}'), ("array", "[[[[]]]]"),
                       ("number", "-12345678901234567890.5e-3"), ("string", '"tab\\tquote\\"back\\\\slash"')]:
        put("JsonFuzzTest", "parse", name, text)
    for comp in ["unet", "vae", "text_encoder"]:
        path = os.path.join(REPO, "src/main/resources/dev/edgediffuse/configs/tiny", comp, "config.json")
        with open(path, "rb") as f:
            put("JsonFuzzTest", "config", "tiny-" + comp, f.read())
    put("JsonFuzzTest", "config", "sampling-defaults", '{"steps": 4, "cfg_scale": 1.5, "scheduler": "lcm", "cfg_max_timestep": 500}')
    with open(os.path.join(REPO, "recipes/mini.json"), "rb") as f:
        put("JsonFuzzTest", "recipe", "mini", f.read())

    put("ImageInputsFuzzTest", "png", "rgb-8x8", png(8, 8, "a fox\nSteps: 2"))
    put("ImageInputsFuzzTest", "png", "rgb-1x1", png(1, 1))
    put("ImageInputsFuzzTest", "npy", "latents-1x4x2x2", npy([1, 4, 2, 2]))
    put("ImageInputsFuzzTest", "npy", "f8-vector", npy([3], "<f8"))
    put("ImageInputsFuzzTest", "npy", "i8-scalar", npy([], "<i8"))

    for name, text in [("plain", "a photo of an ankle boot"), ("unicode", "ein Stiefel, très élégant 👢\n\t!!"),
                       ("long", "sneaker, " * 60), ("special", "<|startoftext|>!<|endoftext|>")]:
        put("TokenizerFuzzTest", "prompt", name, text)
    put("TokenizerFuzzTest", "files", "small", '{"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "b": 3}'.ljust(60)
        + "#version: 0.2\nb a</w>\n" + "ab")

    bodies = ['{"prompt": "a fox", "seed": 1, "steps": 2, "width": 64, "height": 64}',
              '{"prompt": "a fox", "size": "64x64", "n": 2, "steps": 1, "response_format": "b64_json"}',
              '{"prompt": "a fox", "seed": 3, "steps": 2, "split": 1, "width": 64, "height": 64, "scheduler": "dpmpp_2m",'
              ' "return_embeddings": true, "nonce": "n"}',
              '{"prompt": "x", "sampler_name": "Euler a", "batch_size": 2, "n_iter": 1, "override_settings": {"sd_model_checkpoint": "tiny"}}']
    for i, b in enumerate(bodies):
        put("RequestFuzzTest", "post", f"body-{i}", b.encode() + bytes([min(i, 2)]))

    for i in range(3):
        put("HandoffFuzzTest", "mutateReal", f"random-{i}", bytes(rnd.randrange(256) for _ in range(32)))

    lora_seeds(f32, rnd)


def lora_seeds(f32, rnd):
    """LoRA files for the tiny golden model LoraFuzzTest binds to (sd1_tiny UNet, CLIP sd1: hidden 32, 1000 tokens)."""
    golden = os.path.join(REPO, "src/test/resources/goldens/lora")
    for name in ["kohya", "peft"]:  # kohya with LoCon convs and alpha; PEFT lora_A/lora_B with a conv
        with open(os.path.join(golden, name + ".safetensors"), "rb") as f:
            put("LoraFuzzTest", "file", "golden-" + name, f.read())
    vals = lambda n: f32(*[rnd.uniform(-0.5, 0.5) for _ in range(n)])
    f16 = lambda *v: struct.pack("<%de" % len(v), *v)
    te = "lora_te_text_model_encoder_layers_0_mlp_fc1"
    put("LoraFuzzTest", "file", "kohya-text-and-word", safetensors([
        (te + ".lora_down.weight", "F32", [2, 32], vals(64)), (te + ".lora_up.weight", "F32", [64, 2], vals(128)),
        (te + ".alpha", "F16", [], f16(1.0)),
        ("bundle_emb.x.string_to_param.*", "F32", [1, 32], vals(32))], {"ss_network_dim": "2"}))
    conv = "unet.down_blocks.0.resnets.0.conv1"
    attn = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora"
    put("LoraFuzzTest", "file", "diffusers-locon-and-processor", safetensors([
        (conv + ".lora.down.weight", "F16", [1, 16, 3, 3], f16(*[0.01] * 144)), (conv + ".lora.up.weight", "F16", [16, 1, 1, 1], f16(*[0.5] * 16)),
        (conv + ".alpha", "F32", [1], f32(2)),
        (attn + ".down.weight", "F32", [1, 32], vals(32)),
        (attn + ".up.weight", "F32", [16, 1], vals(16))]))
    put("LoraFuzzTest", "file", "peft-bare-text", safetensors([
        ("base_model.model.text_model.encoder.layers.1.self_attn.k_proj.lora_A.weight", "BF16", [1, 32], bytes(64)),
        ("base_model.model.text_model.encoder.layers.1.self_attn.k_proj.lora_B.weight", "BF16", [32, 1], bytes(64))]))
    q = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q"
    put("LoraFuzzTest", "file", "broken-alpha-shape", safetensors([
        (q + ".lora_down.weight", "F32", [1, 32], vals(32)), (q + ".lora_up.weight", "F32", [32, 1], vals(32)), (q + ".alpha", "F32", [2], f32(1, 2))]))
    put("LoraFuzzTest", "file", "broken-rank", safetensors([
        (q + ".lora_down.weight", "F32", [2, 32], vals(64)), (q + ".lora_up.weight", "F32", [32, 1], vals(32))]))
    put("LoraFuzzTest", "file", "broken-no-up", safetensors([(q + ".lora_down.weight", "F32", [1, 32], vals(32))]))
    put("LoraFuzzTest", "file", "broken-loha", safetensors([("lora_unet_conv_in.hada_w1_a", "F32", [1, 4], vals(4))]))
    put("LoraFuzzTest", "file", "broken-sdxl", safetensors([("lora_te2_text_model_encoder_layers_0_mlp_fc1.alpha", "F32", [], f32(1))]))
    put("LoraFuzzTest", "file", "broken-truncated", safetensors([(q + ".lora_down.weight", "F32", [1, 32], vals(32))])[:60])
    # found by fuzzing or by reading the code, each fixed: a word whose token is past the model's table, a zero rank,
    # a non-finite alpha, line breaks in a tag's error
    put("LoraFuzzTest", "file", "word-past-the-table", safetensors([("bundle_emb.fox.string_to_param.*", "F32", [1, 32], vals(32))]))
    put("LoraFuzzTest", "file", "rank-zero", safetensors([(q + ".lora_down.weight", "F32", [0, 32], b""), (q + ".lora_up.weight", "F32", [32, 0], b""),
                                                          (q + ".alpha", "F32", [], f32(1))]))
    put("LoraFuzzTest", "file", "alpha-nan", safetensors([(q + ".lora_down.weight", "F32", [1, 32], vals(32)), (q + ".lora_up.weight", "F32", [32, 1], vals(32)),
                                                          (q + ".alpha", "F32", [], f32(float("nan")))]))
    put("LoraFuzzTest", "prompt", "newline-in-tag", "a fox <lora:sty\nle:heavy> <lora:x\n>")
    put("LoraFuzzTest", "prompt", "unclosed-tag", b"\x01\x00\x00\x03\xe8:style:x>" + bytes(0xd3 - 14) + b"<lora:" + bytes(0x3ed - 0xd9))
    for i, text in enumerate(["a photo of a boot <lora:style:0.7>", "<lora:style:te=0.5:unet=1.5> <lora:style>, red",
                              "<lora:../style:1>", "<lora:missing:1:2:3>", "<lora:style:x>"]):
        put("LoraFuzzTest", "prompt", f"prompt-{i}", text)


if __name__ == "__main__":
    main()
