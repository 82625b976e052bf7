#!/usr/bin/env python3
"""GPTQ of SmolLM2-135M in PyTorch, the side of benches/compare_gptq.sh that is not lowbit.

The algorithm is tools/gptq_reference.py's (`hessian`, `gptq`, `IntQuantizer`): the plain-PyTorch
GPTQ that lowbit's Rust GPTQ matches on the fixtures of tests/fixtures/gptq/, imported, not
re-implemented, so both sides run the same column loop and the same quantizer (FORMATS.md
`int4:block=64,asym`). Around it, the sequential procedure of `lowbit compress --method gptq`
(and of IST-DASLab/gptq's llama.py without its "true sequential" sub-steps):

  1. calibration = the first `n × seq_len` tokens of the calibration text (no special tokens),
     cut into n non-overlapping windows from the start;
  2. the inputs of decoder layer 0 for all windows are captured once (one embedding pass);
  3. for each layer: ONE full-precision forward of that layer over the current inputs (the
     outputs of the already-quantized layers below) records the inputs of its 7 linears; each
     linear gets H = hessian(X) (2/n·XᵀX, gptq's add_batch order, one window per batch) and
     gptq(W, H, INT4 asym g64, blocksize 128, damp 0.01, no act-order, lowbit's group source
     "current"); then the *quantized* layer is run over the same inputs to make the next
     layer's inputs.

q/k/v (and gate/up) read the same tensor, so their Hessian is computed once and shared: the
result is identical and it is what a careful PyTorch implementation would do, so the timing is
not handicapped by it. Embeddings / lm_head (tied) stay full precision, as in lowbit.

Subcommands (all print one JSON line on stdout, progress on stderr):
  texts   build the calibration and held-out text files from GSM8K jsonl
  torch   one PyTorch run: load the GGUF, GPTQ, held-out NLL (lowbit eval's windowing)
  report  aggregate the .sh's result lines into the markdown table

Usage (the venv of benches/parity_smollm2.sh, torch 2.15.0 / transformers 5.24.0):
    .venv-hf/bin/python benches/compare_gptq.py texts --train train.jsonl --test test.jsonl \
        --out-dir DIR [--calib-problems 100] [--heldout-problems 150]
    .venv-hf/bin/python benches/compare_gptq.py torch --gguf F.gguf --calib-text C --heldout-text T \
        [--imported DIR] [--calib-samples 16] [--calib-seq-len 256] [--seq-len 256] \
        [--max-tokens 8192] [--threads 2]
    .venv-hf/bin/python benches/compare_gptq.py report --results R.jsonl --out benches/results/compare_gptq.md
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()  # before the heavy imports: the process wall clock to "compressed"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, Callable  # noqa: E402

if TYPE_CHECKING:  # torch is imported lazily: `texts` and `report` run without it
    import torch
    from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
FORMAT = "int4:block=64,asym"
BITS, GROUP, BLOCKSIZE, PERCDAMP = 4, 64, 128, 0.01
# FORMATS.md INT asym storage: b bits per value + an f32 scale and a u8 zero point per group
TORCH_BITS_PER_VALUE = BITS + (32 + 8) / GROUP
LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# texts: GSM8K jsonl -> calibration / held-out text files
# --------------------------------------------------------------------------------------------

def gsm8k_text(path: Path, n: int) -> tuple[str, list[str]]:
    """The first n problems of a GSM8K jsonl as "question\\nanswer\\n\\n" concatenated (the
    answer keeps its <<calc>> annotations and "#### N" line, as stored); also the questions."""
    parts, questions = [], []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if len(parts) == n:
                break
            rec = json.loads(line)
            parts.append(f"{rec['question']}\n{rec['answer']}\n\n")
            questions.append(rec["question"])
    if len(parts) < n:
        raise SystemExit(f"{path} has only {len(parts)} problems, {n} requested")
    return "".join(parts), questions


def cmd_texts(a: argparse.Namespace) -> int:
    calib, calib_q = gsm8k_text(a.train, a.calib_problems)
    held, held_q = gsm8k_text(a.test, a.heldout_problems)
    # GSM8K's splits are disjoint problem sets; check it on what we actually use, since a
    # held-out NLL over calibration text would flatter both sides alike and hide nothing useful
    shared = set(calib_q) & set(held_q)
    if shared:
        raise SystemExit(f"{len(shared)} held-out questions also occur in the calibration text")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    (a.out_dir / "calib.txt").write_text(calib, encoding="utf-8")
    (a.out_dir / "heldout.txt").write_text(held, encoding="utf-8")
    print(json.dumps({"calib": str(a.out_dir / "calib.txt"), "calib_problems": a.calib_problems,
                      "calib_chars": len(calib), "heldout": str(a.out_dir / "heldout.txt"),
                      "heldout_problems": a.heldout_problems, "heldout_chars": len(held)}))
    return 0


# --------------------------------------------------------------------------------------------
# torch: the PyTorch side
# --------------------------------------------------------------------------------------------

@dataclass
class Timer:
    """Wall-clock seconds of the GPTQ proper, with the diagnostics (relative errors) taken out."""
    start: float = 0.0
    excluded: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    layers: list[float] = field(default_factory=list)

    def add(self, key: str, seconds: float) -> None:
        self.parts[key] = self.parts.get(key, 0.0) + seconds


def load_model(gguf: Path) -> nn.Module:
    """transformers' own GGUF loader (dequantizes Q4_1 to float32), as parity_smollm2.py."""
    from transformers import AutoModelForCausalLM
    import torch

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=torch.float32)
    model.eval()
    return model


def load_tokenizer(gguf: Path, imported: Path | None) -> Callable[[str], list[int]]:
    """lowbit tokenizes with the imported dir's tokenizer.json; use it when given, else
    transformers' GGUF tokenizer (benches/parity_smollm2.py checks that both give the same ids)."""
    if imported is not None and (imported / "tokenizer.json").exists():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(imported / "tokenizer.json"))
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return lambda text: hf(text, add_special_tokens=False).input_ids


def calibration_windows(ids: list[int], n: int, seq_len: int) -> Tensor:
    """The first n·seq_len tokens as n non-overlapping windows [n, seq_len] (lowbit's choice)."""
    import torch

    need = n * seq_len
    if len(ids) < need:
        raise SystemExit(f"calibration text has {len(ids)} tokens, {need} needed")
    return torch.tensor(ids[:need], dtype=torch.long).reshape(n, seq_len)


class _Caught(Exception):
    pass


def layer0_inputs(model: nn.Module, windows: Tensor) -> tuple[Tensor, dict[str, Any]]:
    """Hidden states entering decoder layer 0 and the keyword arguments transformers passes to
    every layer (position embeddings, mask, ...): run the model until layer 0 is called and
    stop there (gptq's "Catcher"), so the mask/rotary code is transformers' own."""
    import torch

    layers = model.model.layers
    first = layers[0]
    caught: dict[str, Any] = {}

    class Catcher(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention_type = getattr(first, "attention_type", "full_attention")

        def forward(self, hidden: Any, *args: Any, **kwargs: Any) -> Any:
            if args:
                raise RuntimeError("decoder layer called with positional extras; update the catcher")
            caught["hidden"], caught["kwargs"] = hidden, kwargs
            raise _Caught

    layers[0] = Catcher()
    try:
        with torch.no_grad():
            model(windows, use_cache=False)
    except _Caught:
        pass
    finally:
        layers[0] = first
    # no KV cache: every layer sees whole windows (transformers 5 names it `cache`)
    kwargs = {k: v for k, v in caught["kwargs"].items()
              if k not in ("cache", "past_key_values", "past_key_value")}
    kwargs["use_cache"] = False
    return caught["hidden"], kwargs


def run_layer(layer: nn.Module, hidden: Tensor, kwargs: dict[str, Any]) -> Tensor:
    import torch

    with torch.no_grad():
        out = layer(hidden, **kwargs)
    return out[0] if isinstance(out, tuple) else out


def linear_inputs(layer: nn.Module, hidden: Tensor, kwargs: dict[str, Any]) -> dict[str, Tensor]:
    """One full-precision forward of `layer`; the input of each of its 7 linears as [tokens, d_in]."""
    got: dict[str, Tensor] = {}
    handles = []
    for name in LINEARS:
        mod = layer.get_submodule(name)
        handles.append(mod.register_forward_hook(
            lambda _m, inp, _out, name=name: got.__setitem__(name, inp[0])))
    try:
        run_layer(layer, hidden, kwargs)
    finally:
        for h in handles:
            h.remove()
    return {k: v.reshape(-1, v.shape[-1]) for k, v in got.items()}


def quantize_layer(layer: nn.Module, xs: dict[str, Tensor], batch: int, timer: Timer,
                   errors: list[float]) -> None:
    """GPTQ of the 7 linears of one layer with the reference core; weights replaced in place."""
    import gptq_reference as ref

    hessians: dict[int, Tensor] = {}
    for name in LINEARS:
        x = xs[name]
        t = time.perf_counter()
        key = x.data_ptr()  # q/k/v and gate/up read one tensor: one Hessian for each such input
        if key not in hessians:
            hessians[key] = ref.hessian(x, batch)
        H = hessians[key]
        t_h = time.perf_counter()
        mod = layer.get_submodule(name)
        W = mod.weight.data
        res = ref.gptq(W, H, ref.IntQuantizer(BITS, GROUP, symmetric=False), blocksize=BLOCKSIZE,
                       percdamp=PERCDAMP, groupsize=GROUP, actorder=False, static_groups=False,
                       group_source="current", track_margins=False)
        mod.weight.data = res.W_hat.to(W.dtype).contiguous()
        t_q = time.perf_counter()
        timer.add("hessian", t_h - t)
        timer.add("gptq", t_q - t_h)
        # diagnostic only, outside the timed region: relative output error on the calibration H
        errors.append(ref.rel_output_error(W, res.W_hat, H=H))
        timer.excluded += time.perf_counter() - t_q


def sequential_gptq(model: nn.Module, windows: Tensor, timer: Timer,
                    max_layers: int | None) -> list[float]:
    """Block by block as lowbit compress: inputs from the already-quantized blocks below.
    `max_layers` (a smoke test of the script, never for timing) stops after that many."""
    t = time.perf_counter()
    hidden, kwargs = layer0_inputs(model, windows)
    timer.add("forward", time.perf_counter() - t)
    errors: list[float] = []
    layers = model.model.layers
    for i, layer in enumerate(layers[:max_layers]):
        t = t_layer = time.perf_counter()
        excluded = timer.excluded
        xs = linear_inputs(layer, hidden, kwargs)
        timer.add("forward", time.perf_counter() - t)
        quantize_layer(layer, xs, windows.shape[1], timer, errors)
        t = time.perf_counter()
        hidden = run_layer(layer, hidden, kwargs)
        timer.add("forward", time.perf_counter() - t)
        # per layer too: a contended moment shows up as a few slow layers, not a uniform drift
        timer.layers.append(time.perf_counter() - t_layer - (timer.excluded - excluded))
        log(f"layer {i + 1}/{len(layers)} done, {time.perf_counter() - timer.start:.1f} s")
    return errors


def held_out_nll(model: nn.Module, ids: list[int], seq_len: int) -> float:
    """benches/parity_smollm2.py's `hf_nll` (lowbit eval's windows), reused, not re-derived."""
    sys.path.insert(0, str(ROOT / "benches"))
    from parity_smollm2 import hf_nll

    return hf_nll(model, ids, seq_len)


def cmd_torch(a: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT / "tools"))
    import torch
    import gptq_reference  # noqa: F401  (fail before loading the model if tools/ is broken)

    torch.set_num_threads(a.threads)
    encode = load_tokenizer(a.gguf, a.imported)
    model = load_model(a.gguf)
    windows = calibration_windows(encode(a.calib_text.read_text(encoding="utf-8")),
                                  a.calib_samples, a.calib_seq_len)
    log(f"loaded in {time.perf_counter() - _T0:.1f} s; calibration {tuple(windows.shape)}")
    timer = Timer(start=time.perf_counter())
    errors = sequential_gptq(model, windows, timer, a.max_layers)
    t_end = time.perf_counter()
    gptq_seconds = t_end - timer.start - timer.excluded
    to_compressed = t_end - _T0 - timer.excluded
    held = encode(a.heldout_text.read_text(encoding="utf-8"))[: a.max_tokens]
    t = time.perf_counter()
    nll = held_out_nll(model, held, a.seq_len)
    eval_seconds = time.perf_counter() - t
    print(json.dumps({
        "side": "torch", "format": FORMAT, "seconds": round(gptq_seconds, 3),
        "wall_to_compressed": round(to_compressed, 3), "eval_seconds": round(eval_seconds, 3),
        "parts": {k: round(v, 3) for k, v in timer.parts.items()},
        "diagnostics_seconds": round(timer.excluded, 3),
        "layer_seconds": [round(x, 3) for x in timer.layers],
        "mean_rel_error": statistics.fmean(errors) if errors else None, "linears": len(errors),
        "nll": nll, "ppl": math.exp(nll), "tokens": len(held) - 1,
        "threads": a.threads, "torch": torch.__version__,
    }))
    return 0


# --------------------------------------------------------------------------------------------
# report: the side-by-side table
# --------------------------------------------------------------------------------------------

def fmt_nll(values: list[float]) -> str:
    """Deterministic on both sides, so every repetition should give the same NLL; show a range
    if they do not (that would be worth knowing)."""
    lo, hi = min(values), max(values)
    return f"{lo:.4f}" if hi - lo < 5e-5 else f"{lo:.4f}–{hi:.4f}"


def layer_spread(row: dict[str, Any]) -> str:
    """PyTorch's per-layer seconds, min/median/max: a max far above the median means the run was
    disturbed (2-thread torch slows down many-fold while another process holds a core)."""
    xs = row.get("layer_seconds")
    if not xs:
        return ""
    return f"; PyTorch s/layer {min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f} (min/median/max)"


def cmd_report(a: argparse.Namespace) -> int:
    rows = [json.loads(line) for line in a.results.read_text().splitlines() if line.strip()]
    meta = next((r for r in rows if r.get("side") == "meta"), {})
    base = next((r for r in rows if r.get("side") == "baseline"), None)
    runs = {s: sorted((r for r in rows if r.get("side") == s), key=lambda r: r["rep"])
            for s in ("lowbit", "torch")}
    pairs = [(lb, tc) for lb in runs["lowbit"] for tc in runs["torch"] if lb["rep"] == tc["rep"]]
    if not pairs:
        raise SystemExit(f"{a.results}: no repetition with both sides")
    ratios = [tc["seconds"] / lb["seconds"] for lb, tc in pairs]
    wall_ratios = [tc["wall_to_compressed"] / lb["wall"] for lb, tc in pairs]
    med = {s: statistics.median(r["seconds"] for r in runs[s]) for s in runs}
    wall = {"lowbit": statistics.median(r["wall"] for r in runs["lowbit"]),
            "torch": statistics.median(r["wall_to_compressed"] for r in runs["torch"])}
    nll = {s: [r["nll"] for r in runs[s]] for s in runs}
    err = {s: statistics.median(r["mean_rel_error"] for r in runs[s]) for s in runs}
    lines = [
        f"GPTQ of SmolLM2-135M-Instruct, `{FORMAT}`; calibration: {meta.get('calib', '?')}; "
        f"held-out: {meta.get('heldout', '?')}; {len(pairs)} repetitions, alternating order; "
        f"{meta.get('date', '')} on {meta.get('host', '?')} ({meta.get('threads', '?')} threads each, "
        f"{meta.get('nproc', '?')} cores, "
        f"load average before/after: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}).",
        "",
        "| | lowbit | PyTorch (tools/gptq_reference.py) | PyTorch / lowbit |",
        "|---|---:|---:|---:|",
        f"| GPTQ seconds (median; self-reported) | {med['lowbit']:.2f} | {med['torch']:.2f} | "
        f"**{statistics.median(ratios):.2f}×** (pairs {min(ratios):.2f}–{max(ratios):.2f}×) |",
        f"| process wall to compressed model (median) | {wall['lowbit']:.2f} | {wall['torch']:.2f} | "
        f"{statistics.median(wall_ratios):.2f}× (pairs {min(wall_ratios):.2f}–{max(wall_ratios):.2f}×) |",
        f"| held-out NLL ({runs['torch'][0]['tokens']} predictions) | {fmt_nll(nll['lowbit'])} | "
        f"{fmt_nll(nll['torch'])} | Δ {statistics.median(nll['torch']) - statistics.median(nll['lowbit']):+.4f} |",
        f"| mean relative error (each side's own definition) | {err['lowbit']:.4g} | {err['torch']:.4g} | |",
        f"| bits per value | {runs['lowbit'][0].get('bits_per_value', '?')} | {TORCH_BITS_PER_VALUE} | |",
    ]
    if base is not None:
        lines.append(f"| full-precision NLL (`lowbit eval` of the import) | {base['nll']:.4f} | | |")
    lines += ["", "Per repetition (seconds: lowbit / PyTorch, ratio; 1-min load average at the start, "
              "which includes the previous run of this script itself):", ""]
    for lb, tc in pairs:
        lines.append(f"- rep {lb['rep']} ({'lowbit first' if lb['rep'] % 2 == 0 else 'PyTorch first'}): "
                     f"{lb['seconds']:.2f} / {tc['seconds']:.2f} → {tc['seconds'] / lb['seconds']:.2f}×; "
                     f"load {lb.get('load', '?')} / {tc.get('load', '?')}{layer_spread(tc)}")
    ratio, dnll = statistics.median(ratios), abs(statistics.median(nll["torch"]) - statistics.median(nll["lowbit"]))
    verdict = "met" if ratio >= 3.0 and dnll <= a.nll_tol else "NOT met"
    lines += ["", f"Goal (lowbit ≥ 3× faster at the same held-out NLL, |ΔNLL| ≤ {a.nll_tol} nats): "
              f"**{verdict}** (median ratio {ratio:.2f}×, |ΔNLL| {dnll:.4f})."]
    if meta.get("forced"):
        lines += ["", "**WARNING: run with --force on a machine that was not idle; these timings are "
                  "contended and not representative.**"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text, encoding="utf-8")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("texts")
    t.add_argument("--train", type=Path, required=True)
    t.add_argument("--test", type=Path, required=True)
    t.add_argument("--out-dir", type=Path, required=True)
    t.add_argument("--calib-problems", type=int, default=100)
    t.add_argument("--heldout-problems", type=int, default=150)
    r = sub.add_parser("torch")
    r.add_argument("--gguf", type=Path, required=True)
    r.add_argument("--imported", type=Path)
    r.add_argument("--calib-text", type=Path, required=True)
    r.add_argument("--heldout-text", type=Path, required=True)
    r.add_argument("--calib-samples", type=int, default=16)
    r.add_argument("--calib-seq-len", type=int, default=256)
    r.add_argument("--seq-len", type=int, default=256)
    r.add_argument("--max-tokens", type=int, default=8192)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--max-layers", type=int,
                   help="smoke test only: quantize the first N layers (0: the full-precision NLL)")
    p = sub.add_parser("report")
    p.add_argument("--results", type=Path, required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--nll-tol", type=float, default=0.005,
                   help="|ΔNLL| (nats) below which the two sides count as the same NLL")
    a = ap.parse_args()
    return {"texts": cmd_texts, "torch": cmd_torch, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
