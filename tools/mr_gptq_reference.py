"""MR-GPTQ reference cases for tests/fixtures/gptq/ (imported by tools/gptq_reference.py, which
passes itself in as `G`: its `gptq`, `hessian`, quantizers and casts are reused unchanged).

MR-GPTQ (Egiazarian et al., "Bridging the Gap Between Promise and Performance for Microscaling
FP4 Quantization", arXiv 2509.23202), written from the paper, from reading IST-DASLab/FP-Quant
(`src/quantization/gptq.py` `gptq_quantization`/`GPTQ.step`, `src/quantization/quantizer.py`
`Quantizer.get_quantization_params`, `src/transforms/transforms.py` `HadamardTransform`) and
from lowbit-nn's `crates/lowbit-nn/src/quant/hadamard.rs`.  No code was copied.

Choices (the Rust `mr_gptq` must make the same ones):
M1. Rotation: R = diag(H_b, ..., H_b), H_b[i][j] = (-1)^popcount(i & j) * f32(1/sqrt(b)) (the f32
    entries of lowbit-nn's `hadamard_matrix`), applied as x -> x·R to the rows of W and of the
    inputs; W_rot = W·R, H_rot = Rᵀ·H·R (the Hessian of the rotated inputs).  Both in float64 from
    the f32 inputs, rounded to f32 once.  Stored: W_rot, H_rot.
M2. Tensor statistics (NVFP4 global scale) from W_rot (FP-Quant takes the global scale of the
    rotated weight).
M3. Static groups (FP-Quant computes all scales before the column loop) from W_rot; optional
    act-order (stable argsort of diag H_rot, each column keeps its original group).
M4. MSE block-scale search (FP-Quant `observer="mse"`: scale_search_iters 100,
    max_scale_shrink_factor 0.8, error_norm 2.4): shrink_i = f32(1 - (i*0.8)/100), i = 0..99;
    NVFP4 / MXFP4 candidate = the format's own scale rule on amax_i = f32(amax * shrink_i)
    (E4M3: s_f32 = amax_i*(enc_g*f32(1/6)) -> saturating RNE E4M3; MXFP4 FLOOR: exponent field of
    amax_i - 129), scored by sum |x - x_hat|^2.4 (f64) of the values DECODED with the candidate's
    stored scale; the first strict minimum wins.  DEVIATION from FP-Quant, which scores the
    unrounded scale (amax_i/6) and casts the winner to E4M3 / E8M0 afterwards, and whose MXFP4
    scale is 2^(floor(log2 amax) - 2) / (3/4) (not an OCP E8M0 scale): lowbit's formats must
    decode exactly from stored E4M3 / E8M0 bytes.
M5. GPTQ = G.gptq (choices 1-13 of gptq_reference.py) on (W_rot, H_rot).  The stored W_hat is in
    the rotated basis; the output error is measured in the original basis with
    W_hat_orig = W_hat·Rᵀ: tr((W - W_hat_orig) H (W - W_hat_orig)ᵀ) / tr(W H Wᵀ).
M6. Robustness as choice 13, plus the search: every block's winner beats every candidate that
    decodes differently by >= SEARCH_MARGIN relative (`search_margin`), far above the f64 noise
    of the error sums.
"""

import math

import torch

SEARCH_MARGIN = 1e-9
N_SAMPLES = 256

CASES = [
    dict(name="mrgptq-nvfp4-r16", fmt="nvfp4", rows=16, cols=64, rotation=16, blocksize=32),
    dict(name="mrgptq-mxfp4-r32", fmt="mxfp4", rows=16, cols=64, rotation=32, blocksize=32,
         actorder=True),
    dict(name="mrgptq-nvfp4-r64-actorder", fmt="nvfp4", rows=16, cols=128, rotation=64,
         blocksize=48, actorder=True),
    dict(name="mrgptq-mxfp4-r128", fmt="mxfp4", rows=16, cols=128, rotation=128, blocksize=64),
    dict(name="mrgptq-mxfp4-rceil-r32", fmt="mxfp4-rceil", rows=16, cols=64, rotation=32,
         blocksize=32, actorder=True),
]
# OCP FLOOR E8M0 (lowbit's `mxfp4`) already takes the smallest scale that does not clip far;
# a shrunk amax only halves it, which never scores better on these blocks (checked: the search
# keeps absmax everywhere), so only the other cases must show blocks the search changed.
SEARCH_MAY_KEEP_ABSMAX = ("mxfp4",)


def hadamard_block(b):
    """H_b in f64 with the f32 entry magnitude of lowbit-nn's `hadamard_matrix`."""
    s = float(torch.tensor(1.0 / math.sqrt(b), dtype=torch.float32))
    i = torch.arange(b)
    par = torch.zeros(b, b, dtype=torch.int64)
    a = i[:, None] & i[None, :]
    while a.any():
        par ^= a & 1
        a = a >> 1
    return torch.where(par == 0, s, -s).to(torch.float64)


def rotate_rows(W, b):
    """W·R (each row's consecutive blocks of b values times H_b), f64, rounded to f32 once."""
    rows, cols = W.shape
    return (W.to(torch.float64).reshape(-1, b) @ hadamard_block(b)).reshape(rows, cols).float()


def rotate_hessian(H, b):
    cols = H.shape[0]
    R = torch.block_diag(*[hadamard_block(b)] * (cols // b))
    return (R.t() @ H.to(torch.float64) @ R).float()


def searched(G, base_cls, grid=100, max_shrink=0.8, norm=2.4):
    """`base_cls` (G.Nvfp4Quantizer / G.Mxfp4Quantizer) with the MSE search of choice M4."""

    class Searched(base_cls):
        def params(self, Wg):
            rows, g = Wg.shape
            amax = Wg.abs().amax(dim=1)
            x64 = Wg.to(torch.float64)
            best_err = torch.full((rows,), math.inf, dtype=torch.float64)
            best = None
            errs, decs, keys = [], [], []
            for i in range(grid):
                sh = torch.tensor(1.0 - (i * max_shrink) / grid, dtype=torch.float32)
                # the base quantizer's only statistic is the row amax: a one-column group
                # holding amax_i gives the format's parameters for amax_i
                p = base_cls.params(self, (amax * sh)[:, None])
                dec = torch.stack([self.quantize(Wg[:, j], p)[1] for j in range(g)], 1)
                err = (x64 - dec.to(torch.float64)).abs().pow(norm).sum(dim=1)
                better = err < best_err
                if best is None:
                    best = {k: v.clone() for k, v in p.items()}
                else:
                    for k in best:
                        best[k] = torch.where(better, p[k], best[k])
                best_err = torch.where(better, err, best_err)
                errs.append(err)
                decs.append(dec)
            # search margin: the winner vs every candidate that decodes differently
            E = torch.stack(errs, 1)                      # [rows, grid]
            D = torch.stack(decs, 1)                      # [rows, grid, g]
            win = (E == best_err[:, None]).int().argmax(dim=1)   # first strict minimum
            same = (D == D[torch.arange(rows), win][:, None, :]).all(dim=2)
            rel = (E - best_err[:, None]) / best_err.clamp(min=1e-300)[:, None]
            m = torch.where(same, math.inf, rel).min().item()
            self.search_margin = min(getattr(self, "search_margin", math.inf), m)
            self.changed = getattr(self, "changed", 0) + int((win != 0).sum())
            self.changed_bytes = getattr(self, "changed_bytes", 0) + int((~same[:, 0]).sum())
            return best

    return Searched


def self_tests(G):
    """Rotation = lowbit-nn's matrix and orthogonal; products invariant; the search never scores
    worse than absmax (RTN, norm 2.4) and changes some blocks; no rotation + absmax = G.gptq."""
    for b in (1, 2, 16, 32, 128):
        Hb = hadamard_block(b)
        assert (Hb @ Hb.t() - torch.eye(b, dtype=torch.float64)).abs().max() < 1e-6
        assert torch.equal(Hb, Hb.t())
    s2 = float(torch.tensor(2 ** -0.5, dtype=torch.float32))   # lowbit-nn: (1/sqrt(2) f64) as f32
    assert hadamard_block(2).tolist() == [[s2, s2], [s2, -s2]]
    h8 = hadamard_block(8)
    assert all((h8[i, j] > 0) == (bin(i & j).count("1") % 2 == 0) for i in range(8) for j in range(8))
    gen = torch.Generator().manual_seed(11)
    W = torch.randn(8, 64, generator=gen)
    X = torch.randn(20, 64, generator=gen)
    y, yr = W.double() @ X.double().t(), rotate_rows(W, 16).double() @ rotate_rows(X, 16).double().t()
    assert (y - yr).abs().max() < 1e-4
    H = G.hessian(X @ (torch.eye(64) + 0.3 * torch.randn(64, 64, generator=gen) / 8), 10)
    for base in (G.Nvfp4Quantizer, G.Mxfp4Quantizer):
        for norm in (2.0, 2.4):
            a, s = G.rtn(W, base()), G.rtn(W, searched(G, base, norm=norm)())
            g = base().group
            ea = (W - a.W_hat).double().abs().pow(norm).reshape(8, -1, g).sum(-1)
            es = (W - s.W_hat).double().abs().pow(norm).reshape(8, -1, g).sum(-1)
            assert (es <= ea).all(), (base, norm)
        r0 = G.gptq(W, H, base(), blocksize=32, static_groups=True)
        assert torch.equal(r0.W_hat, G.gptq(rotate_rows(W, 1), rotate_hessian(H, 1), base(),
                                             blocksize=32, static_groups=True).W_hat)
    print("PASS MR-GPTQ self tests (Hadamard = lowbit-nn matrix, orthogonal; search <= absmax; "
          "rotation 1 == GPTQ)")


def rceil_quantizer(G):
    """MXFP4 with RCEIL E8M0 scales (FORMATS.md; lowbit `mxfp4-rceil`): d = f32(amax/6),
    shared = exact ceil(log2 d) from the f32 bits, clamped to [-127, 127]."""

    class Mxfp4Rceil(G.Mxfp4Quantizer):
        def __init__(self):
            super().__init__()
            self.name = "mxfp4-rceil"

        def params(self, Wg):
            amax = Wg.abs().amax(dim=1)
            d = amax / torch.tensor(6.0)
            bits = d.contiguous().view(torch.int32).long()
            exp, mant = (bits >> 23) & 0xFF, bits & 0x7FFFFF
            sub = torch.tensor([-149 + int(b - 1).bit_length() if b > 0 else -127
                                for b in bits.tolist()], dtype=torch.int64)
            e = torch.where(exp != 0, exp - 127 + (mant != 0).long(), sub).clamp(-127, 127)
            return {"shared": e, "inv": G.pow2_f32(-e), "X": G.pow2_f32(e), "_amax": d}

    return Mxfp4Rceil


def run_mr_case(G, case):
    base = {"nvfp4": G.Nvfp4Quantizer, "mxfp4": G.Mxfp4Quantizer,
            "mxfp4-rceil": rceil_quantizer(G)}[case["fmt"]]
    qz = lambda: searched(G, base)()
    b = case["rotation"]
    kw = dict(blocksize=case["blocksize"], percdamp=0.01, groupsize=base().group,
              actorder=case.get("actorder", False), static_groups=True, group_source="gptq")
    seed0 = G.case_seed(case["name"])
    for tries in range(50):
        seed = seed0 + tries
        W, X = make_outlier_data(case, seed)
        H = G.hessian(X, G.HESSIAN_BATCH)
        W_rot, H_rot = rotate_rows(W, b), rotate_hessian(H, b)
        q = qz()
        res = G.gptq(W_rot, H_rot, q, **kw)
        res64 = G.gptq(W_rot, H_rot, qz(), dtype=torch.float64, **kw)
        H_alt = rotate_hessian((2.0 / X.shape[0] * X.to(torch.float64).t() @ X.to(torch.float64))
                               .float(), b)
        same = torch.equal(res.codes, res64.codes) and \
            torch.equal(G.gptq(W_rot, H_alt, qz(), **kw).codes, res.codes)
        if res.min_margin >= G.MIN_MARGIN and q.search_margin >= SEARCH_MARGIN and same \
                and (q.changed_bytes > 0 or case["fmt"] in SEARCH_MAY_KEEP_ABSMAX):
            break
    else:
        raise SystemExit(f"{case['name']}: no robust seed in 50 tries")
    W_hat_orig = rotate_rows(res.W_hat, b)
    err_mr = G.rel_output_error(W, W_hat_orig, H=H)
    plain = G.gptq(W, H, base(), **{**kw, "static_groups": False, "actorder": False})
    err_gptq = G.rel_output_error(W, plain.W_hat, H=H)
    assert err_mr < err_gptq, f"{case['name']}: MR-GPTQ {err_mr} must beat GPTQ {err_gptq}"
    absmax = G.gptq(W_rot, H_rot, base(), **kw)
    err_abs = G.rel_output_error(W, rotate_rows(absmax.W_hat, b), H=H)
    qs = qz()
    qs.prepare(W_rot)
    tensors = {"W": W, "H": H, "W_rot": W_rot, "H_rot": H_rot, "W_hat": res.W_hat,
               "codes": qs.code_tensor(res.codes), "g_idx": res.g_idx.to(torch.int32)}
    if case.get("actorder"):
        tensors["perm"] = res.perm.to(torch.int32)
    tensors.update(qs.stored_params(res.params))
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    dec = G.decode_stored({**case, "fmt": case["fmt"].split("-")[0]}, tensors)
    assert torch.equal(dec.view(torch.int32), res.W_hat.view(torch.int32)), case["name"]
    meta = dict(
        format=base().name, rows=case["rows"], cols=case["cols"], groupsize=base().group,
        rotation_block=b, scale_search=dict(grid=100, norm=2.4, max_shrink=0.8, eval="decoded"),
        blocksize=case["blocksize"], percdamp=0.01, actorder=case.get("actorder", False),
        static_groups=True, hessian=f"hessian(X, batch={G.HESSIAN_BATCH}) with X [{N_SAMPLES}, {case['cols']}]",
        seed=seed, seed_tries=tries + 1,
        rel_err_mr_gptq=err_mr, rel_err_gptq=err_gptq, rel_err_mr_absmax=err_abs,
        min_margin=res.min_margin, search_margin=q.search_margin,
        search_changed_blocks=q.changed_bytes,
        codes_differ_from=dict(absmax=not torch.equal(absmax.codes, res.codes)),
        max_abs_diff_f64_rerun=(res.W_hat - res64.W_hat).abs().max().item(),
    )
    return tensors, meta


def make_outlier_data(case, seed):
    """W ~ N(0,1) with 2 % outlier weights (×6); X = (Z·A)·diag(c) as gptq_reference's
    make_data, plus three outlier input channels (×8)."""
    gen = torch.Generator().manual_seed(seed)
    rows, cols = case["rows"], case["cols"]
    W = torch.randn(rows, cols, generator=gen, dtype=torch.float32)
    W = torch.where(torch.rand(rows, cols, generator=gen) < 0.02, 6.0 * W, W)
    Z = torch.randn(N_SAMPLES, cols, generator=gen, dtype=torch.float32)
    A = torch.eye(cols) + 0.5 * torch.randn(cols, cols, generator=gen) / math.sqrt(cols)
    c = torch.exp((torch.rand(cols, generator=gen) * 2 - 1) * math.log(4.0))
    c[torch.randperm(cols, generator=gen)[:3]] *= 8.0
    return W, (Z @ A) * c
