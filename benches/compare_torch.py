"""The training step of benches/train_step.rs in plain PyTorch (CPU, 2 threads).

4-layer d=256 Llama (4 heads, SwiGLU 768, vocab 4096, RMSNorm, HF rotate_half RoPE, causal
attention written with matmul/softmax as lowbit's is), batch 8 x seq 256, forward + backward +
AdamW (beta 0.9/0.95, wd 0.1) + global clip 1.0. Fake quantization in plain torch ops with the
straight-through estimator: NVFP4 (E4M3 block scales of 16 with the 448*6/amax global scale,
E2M1 round-to-nearest-even via float8/threshold ops) and PO2(NF4) (per-block choice between
NF4*6 and E2M1 by least squared error). Prints `torch_<label>_tok_s <value>` lines.
"""

import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)

B, T, V, D, L, H, FF = 8, 256, 4096, 256, 4, 4, 768
E2M1 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
NF4 = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230731010437, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]) * 6.0
E2M1_SIGNED = torch.cat([-E2M1.flip(0)[:-1], E2M1])


def round_to_grid(x, grid):
    """Nearest level of a sorted grid (ties to the lower level; enough for timing)."""
    mid = (grid[1:] + grid[:-1]) / 2
    return grid[torch.bucketize(x, mid)]


def nvfp4_blocks(x):
    """x: [..., n] -> blocks [-1, 16], per-block E4M3 scale, global scale."""
    xb = x.reshape(-1, 16)
    amax = x.abs().max().clamp_min(1e-12)
    g = 448.0 * 6.0 / amax
    s = (xb.abs().amax(1, keepdim=True) / 6.0 * g).to(torch.float8_e4m3fn).float()
    s = torch.where(s == 0, torch.ones_like(s), s)
    return xb, s / g


def fake_nvfp4(x):
    xb, scale = nvfp4_blocks(x)
    q = round_to_grid(xb / scale, E2M1_SIGNED) * scale
    return q.reshape(x.shape)


def fake_po2_nf4(x):
    xb, scale = nvfp4_blocks(x)
    y = xb / scale
    q1 = round_to_grid(y, NF4)
    q2 = round_to_grid(y, E2M1_SIGNED)
    e1 = ((q1 - y) ** 2).sum(1, keepdim=True)
    e2 = ((q2 - y) ** 2).sum(1, keepdim=True)
    q = torch.where(e1 <= e2, q1, q2) * scale
    return q.reshape(x.shape)


def ste(x, fq):
    if fq is None:
        return x
    with torch.no_grad():
        q = fq(x)
    return x + (q - x).detach()


class QLinear(torch.nn.Module):
    def __init__(self, din, dout, fq):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(dout, din) * 0.02)
        self.fq = fq

    def forward(self, x):
        return ste(x, self.fq) @ ste(self.w, self.fq).t()


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


class Block(torch.nn.Module):
    def __init__(self, fq):
        super().__init__()
        self.n1 = torch.nn.Parameter(torch.ones(D))
        self.n2 = torch.nn.Parameter(torch.ones(D))
        self.q, self.k, self.v, self.o = (QLinear(D, D, fq) for _ in range(4))
        self.g, self.u = QLinear(D, FF, fq), QLinear(D, FF, fq)
        self.d = QLinear(FF, D, fq)

    def forward(self, x, cos, sin, mask):
        h = rms(x, self.n1)
        hd = D // H

        def heads(t):
            return t.view(B, T, H, hd).transpose(1, 2)

        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat([-t2, t1], -1) * sin

        q, k, v = rope(heads(self.q(h))), rope(heads(self.k(h))), heads(self.v(h))
        a = (q @ k.transpose(-1, -2)) / hd**0.5 + mask
        a = torch.softmax(a, -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, D))
        h = rms(x, self.n2)
        return x + self.d(F.silu(self.g(h)) * self.u(h))


class Model(torch.nn.Module):
    def __init__(self, fq):
        super().__init__()
        self.emb = torch.nn.Parameter(torch.randn(V, D) * 0.02)
        self.blocks = torch.nn.ModuleList(Block(fq) for _ in range(L))
        self.norm = torch.nn.Parameter(torch.ones(D))
        self.head = torch.nn.Parameter(torch.randn(V, D) * 0.02)
        hd = D // H
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        f = torch.outer(torch.arange(T).float(), inv)
        f = torch.cat([f, f], -1)
        self.cos, self.sin = f.cos(), f.sin()
        self.mask = torch.full((T, T), float("-inf")).triu(1)

    def forward(self, tok):
        x = self.emb[tok]
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.mask)
        return rms(x, self.norm) @ self.head.t()


def bench(label, fq, steps=10, warmup=2):
    m = Model(fq)
    decay = [p for n, p in m.named_parameters() if p.dim() == 2 and n != "emb"]
    other = [p for n, p in m.named_parameters() if not (p.dim() == 2 and n != "emb")]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95),
    )
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(m(x).view(-1, V), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(f"torch_{label}_tok_s {B * T / med:.1f}")


bench("bf16-none", None)
bench("nvfp4-w4a4", fake_nvfp4)
bench("po2-nf4-w4a4", fake_po2_nf4)
