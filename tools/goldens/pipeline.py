"""Goldens for whole pipeline runs (pipeline.Pipeline): one tiny SD1-style diffusers checkpoint, then one
text-to-image run per scheduler and one img2img run, following diffusers' StableDiffusionPipeline and
StableDiffusionImg2ImgPipeline step by step with the reference pieces of the other generators (clip.py tokenizer
and text encoder, unet.py forward, vae.py decoder/encoder, schedulers.py).

The checkpoint (src/test/resources/goldens/pipeline/model/) is a diffusers folder: model_index.json, scheduler/ with
SD1.5's scheduler_config.json, text_encoder/, unet/, vae/ (config.json + F16 safetensors; the torch side computes
in float32 with the same f16-rounded weights) and tokenizer/: a small CLIP BPE vocabulary made of the 512 byte
symbols, the first MERGES merges of the real CLIP merge list and the two specials, so the text encoder's embedding
table stays small while prompts go through the real tokenizer algorithm.

Per scheduler <s> in ddim, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm (STEPS steps, CFG, PROMPT / NEGATIVE):
  <s>_latents (1,4,8,8) final latents, <s>_image (1,3,64,64) the image in [0,1] ((x/2+0.5).clamp(0,1)),
  <s>_timesteps, and <s>_step_noise (STEPS,1,4,8,8) the noise each step adds (euler_a and lcm only).
Shared: init_latents (1,4,8,8) unit noise as diffusers' latents= argument, case.json (prompts, settings, token ids).
img2img (ddim, strength IMG2IMG_STRENGTH): img2img_init_image (1,3,64,64) in [-1,1], img2img_noise (1,4,8,8) for
add_noise, img2img_latents, img2img_image. VAE encode takes the posterior mean (diffusers' sample_mode="argmax").

Run: /usr/bin/python3 tools/goldens/pipeline.py
"""
import json
import os
import shutil

import numpy as np
import torch

import clip as clipref
import schedulers as sch
import unet as unetref
import vae as vaeref
from common import out_dir, save, seeded, write_safetensors

C = "pipeline"
MERGES = 600
PROMPT = "a photo of an astronaut riding a horse on mars"
NEGATIVE = "blurry, low quality"
STEPS = 4
CFG = 7.5
SCHEDULERS = ["ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm"]
IMG2IMG_STRENGTH = 0.5

TEXT = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 32,
        "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 77,
        "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
        "projection_dim": 32, "torch_dtype": "float32"}  # vocab_size set from the tokenizer below
UNET = dict(unetref.COMMON, **{
    "block_out_channels": [16, 32], "layers_per_block": 1,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "attention_head_dim": 2, "use_linear_projection": False, "flip_sin_to_cos": True, "freq_shift": 0,
    "center_input_sample": False, "downsample_padding": 1, "mid_block_scale_factor": 1})
VAE = dict(vaeref.KL, block_out_channels=[8, 8, 16, 16], sample_size=64,
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
SCHEDULER = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
             "clip_sample": False}
MODEL_INDEX = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.6.0",
               "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
               "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
               "vae": ["diffusers", "AutoencoderKL"]}
assert all(SCHEDULER[k] == v for k, v in sch.SD15.items()), "schedulers.py SD15 must be this scheduler_config"


def small_tokenizer(merges):
    """CLIP's vocabulary construction cut short: byte symbols, byte symbols + </w>, the first merges, specials."""
    symbols = [clipref.BYTE_CHARS[b] for b in range(256)]
    tokens = symbols + [s + "</w>" for s in symbols]
    pairs = [tuple(line.split()) for line in clipref.merge_lines[:merges]]
    tokens += [a + b for a, b in pairs]
    tokens += list(clipref.SPECIALS)
    assert len(set(tokens)) == len(tokens)
    return {t: i for i, t in enumerate(tokens)}, pairs


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=True)
        f.write("\n")


def f16(w):
    return {k: v.to(torch.float16).to(torch.float32) for k, v in w.items()}


def build_checkpoint(model):
    """Writes the diffusers folder and returns the f16-rounded float32 weights of each component."""
    if os.path.isdir(model):
        shutil.rmtree(model)
    vocab, pairs = small_tokenizer(MERGES)
    write_json(os.path.join(model, "tokenizer", "vocab.json"), vocab)
    with open(os.path.join(model, "tokenizer", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in pairs))
    write_json(os.path.join(model, "tokenizer", "tokenizer_config.json"),
               {"model_max_length": 77, "pad_token": "<|endoftext|>", "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    write_json(os.path.join(model, "model_index.json"), MODEL_INDEX)
    write_json(os.path.join(model, "scheduler", "scheduler_config.json"), SCHEDULER)

    text_cfg = dict(TEXT, vocab_size=len(vocab))
    text_w = f16(clipref.random_weights(text_cfg, 21))
    write_json(os.path.join(model, "text_encoder", "config.json"), text_cfg)
    write_safetensors(os.path.join(model, "text_encoder", "model.safetensors"), text_w, "F16")

    seeded(22)
    unet_w = f16(unetref.make_weights(UNET, unetref.Plan(UNET)))
    write_json(os.path.join(model, "unet", "config.json"), UNET)
    write_safetensors(os.path.join(model, "unet", "diffusion_pytorch_model.safetensors"), unet_w, "F16")

    seeded(23)
    vae_w = f16(vaeref.kl_params(VAE))
    write_json(os.path.join(model, "vae", "config.json"), VAE)
    write_safetensors(os.path.join(model, "vae", "diffusion_pytorch_model.safetensors"), vae_w, "F16")
    return vocab, pairs, text_cfg, text_w, unet_w, vae_w


def main():
    torch.set_default_dtype(torch.float32)
    model = os.path.join(out_dir(C), "model")
    vocab, pairs, text_cfg, text_w, unet_w, vae_w = build_checkpoint(model)
    plan = unetref.Plan(UNET)

    # the reference tokenizer over the small vocabulary (clip.tokenize reads these module globals)
    clipref.VOCAB, clipref.RANKS = vocab, {p: r for r, p in enumerate(pairs)}
    eos = vocab["<|endoftext|>"]
    ids = {"negative": clipref.encode(NEGATIVE, eos), "prompt": clipref.encode(PROMPT, eos)}

    def encode_prompt():
        """[negative, prompt] hidden states (2, 77, hidden): diffusers' batch order [uncond, cond]."""
        tokens = torch.tensor([ids["negative"], ids["prompt"]], dtype=torch.int64)
        return clipref.text_encoder(text_w, text_cfg, tokens)

    def unet(x, t, ctx):
        return unetref.forward(UNET, plan, unet_w, x, torch.tensor([float(t)] * x.shape[0], dtype=torch.float32), ctx)

    def denoise(sched, latents, ctx, start, noises):
        """The denoising loop of StableDiffusionPipeline.__call__ from step index `start`."""
        for i in range(start, len(sched.ts)):
            model_in = sched.scale(torch.cat([latents] * 2), i)
            uncond, text = unet(model_in, sched.ts[i], ctx).chunk(2)
            noise_pred = uncond + CFG * (text - uncond)
            latents = sched.step(noise_pred, i, latents, noises[i]).to(torch.float32)
        return latents

    def decode(latents):
        image = vaeref.kl_decode(vae_w, VAE, latents / VAE["scaling_factor"])
        return (image / 2 + 0.5).clamp(0, 1)

    with torch.no_grad():
        ctx = encode_prompt()
        save(C, "context", ctx)
        g = torch.Generator().manual_seed(2024)
        init = torch.randn(1, 4, 8, 8, generator=g)
        save(C, "init_latents", init)
        for k, name in enumerate(SCHEDULERS):
            sched = sch.MAKERS[name](STEPS, "epsilon")
            gn = torch.Generator().manual_seed(3000 + k)
            noises = [torch.randn(1, 4, 8, 8, generator=gn) for _ in range(len(sched.ts))]
            latents = denoise(sched, init * sched.init_sigma, ctx, 0, noises)
            image = decode(latents)
            save(C, name + "_timesteps", np.asarray(sched.ts, dtype=np.float32))
            if sched.noisy:
                save(C, name + "_step_noise", torch.stack(noises))
            save(C, name + "_latents", latents)
            save(C, name + "_image", image)
            print(f"{name:16s} ts {list(np.asarray(sched.ts, dtype=np.float32))} |latents| max "
                  f"{float(latents.abs().max()):.4f} image mean {float(image.mean()):.4f}")

        # img2img (StableDiffusionImg2ImgPipeline): x0 = scaling_factor * posterior mean, noised to the first kept step
        init_image = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
        sched = sch.MAKERS["ddim"](STEPS, "epsilon")
        start = max(STEPS - min(int(STEPS * IMG2IMG_STRENGTH), STEPS), 0)
        moments = vaeref.kl_encode_moments(vae_w, VAE, init_image)
        x0 = moments[:, :VAE["latent_channels"]] * VAE["scaling_factor"]
        noise = torch.randn(1, 4, 8, 8, generator=g)
        latents = denoise(sched, sched.add_noise(x0, noise, start), ctx, start, [None] * STEPS)
        save(C, "img2img_init_image", init_image)
        save(C, "img2img_noise", noise)
        save(C, "img2img_latents", latents)
        save(C, "img2img_image", decode(latents))
        print(f"img2img start {start} |latents| max {float(latents.abs().max()):.4f}")

    write_json(os.path.join(out_dir(C), "case.json"),
               {"prompt": PROMPT, "negative_prompt": NEGATIVE, "steps": STEPS, "cfg": CFG, "schedulers": SCHEDULERS,
                "img2img": {"scheduler": "ddim", "strength": IMG2IMG_STRENGTH},
                "prompt_ids": ids["prompt"], "negative_ids": ids["negative"]})


if __name__ == "__main__":
    main()
