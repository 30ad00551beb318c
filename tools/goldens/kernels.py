"""Goldens for the kernels package: GEMM, convolutions, norms, attention, activations (torch as the oracle)."""
import torch
import torch.nn.functional as F

from common import save, seeded

C = "kernels"
seeded(1)
torch.set_default_dtype(torch.float32)

# GEMM with bias; sizes not multiples of the 4x16 block
a = torch.randn(37, 53)
w = torch.randn(29, 53)
b = torch.randn(29)
save(C, "gemm_a", a); save(C, "gemm_w", w); save(C, "gemm_b", b)
save(C, "gemm_out", F.linear(a, w, b))

# conv 3x3 pad 1, stride 2 pad 1, asymmetric (0,1,0,1) then stride 2 pad 0 (the VAE downsampler)
x = torch.randn(2, 5, 9, 11)
cw = torch.randn(7, 5, 3, 3)
cb = torch.randn(7)
save(C, "conv_x", x); save(C, "conv_w", cw); save(C, "conv_b", cb)
save(C, "conv_p1", F.conv2d(x, cw, cb, stride=1, padding=1))
save(C, "conv_s2p1", F.conv2d(x, cw, cb, stride=2, padding=1))
save(C, "conv_asym", F.conv2d(F.pad(x, (0, 1, 0, 1)), cw, cb, stride=2, padding=0))
w1 = torch.randn(6, 5, 1, 1)
save(C, "conv1_w", w1)
save(C, "conv1_out", F.conv2d(x, w1, None))

# group norm (+ SiLU), layer norm
g = torch.randn(2, 8, 6, 5) * 3 + 1
gamma = torch.randn(8); beta = torch.randn(8)
save(C, "gn_x", g); save(C, "gn_gamma", gamma); save(C, "gn_beta", beta)
save(C, "gn_out", F.group_norm(g, 4, gamma, beta, eps=1e-6))
save(C, "gn_silu_out", F.silu(F.group_norm(g, 4, gamma, beta, eps=1e-6)))
l = torch.randn(13, 24) * 2 - 1
lg = torch.randn(24); lb = torch.randn(24)
save(C, "ln_x", l); save(C, "ln_gamma", lg); save(C, "ln_beta", lb)
save(C, "ln_out", F.layer_norm(l, (24,), lg, lb, eps=1e-5))

# attention: batch 2, 3 heads of 20, 70 queries over 70 keys (self, causal) and 9 keys (cross)
heads, d = 3, 20
q = torch.randn(2, 70, heads * d)
k = torch.randn(2, 70, heads * d)
v = torch.randn(2, 70, heads * d)
kc = torch.randn(2, 9, heads * d)
vc = torch.randn(2, 9, heads * d)


def mha(q, k, v, causal):
    B, Tq, _ = q.shape
    Tk = k.shape[1]
    qh = q.view(B, Tq, heads, d).transpose(1, 2)
    kh = k.view(B, Tk, heads, d).transpose(1, 2)
    vh = v.view(B, Tk, heads, d).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) / d ** 0.5
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(Tq, Tk, dtype=torch.bool), 1), float("-inf"))
    return (s.softmax(-1) @ vh).transpose(1, 2).reshape(B, Tq, heads * d)


save(C, "attn_q", q); save(C, "attn_k", k); save(C, "attn_v", v); save(C, "attn_kc", kc); save(C, "attn_vc", vc)
save(C, "attn_self", mha(q, k, v, False))
save(C, "attn_causal", mha(q, k, v, True))
save(C, "attn_cross", mha(q, kc, vc, False))

# activations
z = torch.linspace(-8, 8, 301)
save(C, "act_x", z)
save(C, "act_gelu", F.gelu(z))
save(C, "act_silu", F.silu(z))
save(C, "act_quick_gelu", z * torch.sigmoid(1.702 * z))
gg = torch.randn(5, 2 * 12)
hidden, gate = gg.chunk(2, dim=-1)
save(C, "geglu_x", gg)
save(C, "geglu_out", hidden * F.gelu(gate))
