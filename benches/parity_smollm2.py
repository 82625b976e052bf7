#!/usr/bin/env python3
"""Parity of `lowbit import gguf` with transformers' own GGUF loader, on the same GGUF file.

transformers dequantizes the GGUF itself (`from_pretrained(dir, gguf_file=...)`, its
`integrations/ggml.py` + the `gguf` package's dequantizers) and builds its tokenizer from the GGUF
vocabulary; lowbit reads the directory `lowbit import gguf` wrote. Both score the same text with
`lowbit eval`'s windowing (non-overlapping windows of `seq_len` inputs whose targets are the next
tokens, no special tokens added), so the two mean NLLs must agree to float32 rounding.

Checks, each printed as PASS/FAIL (exit 1 on any FAIL):
  - token ids: transformers' GGUF tokenizer == the imported tokenizer.json (tokenizers library)
    on the text and on a chat-template prompt;
  - weights: every tensor of the imported model.safetensors == transformers' state dict, bit for bit;
  - NLL: |lowbit eval - transformers| <= 2e-4 nats (the issue's bound).

Usage (the venv of benches/parity_smollm2.sh):
    .venv-hf/bin/python benches/parity_smollm2.py --gguf F.gguf --imported DIR --text FILE \
        --lowbit target/release/lowbit [--seq-len 256] [--max-tokens 4096]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

FAILED = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        FAILED.append(name)


def hf_nll(model, ids: list[int], seq_len: int) -> float:
    """Mean next-token NLL with lowbit eval's windows; log-sum-exp in float64 of float32 logits."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, seq_len):
            window = ids[start : min(start + seq_len + 1, len(ids))]
            inp = torch.tensor([window[:-1]], dtype=torch.long)
            logits = model(inp).logits[0].to(torch.float64)
            lse = torch.logsumexp(logits, dim=-1)
            tgt = torch.tensor(window[1:], dtype=torch.long)
            total += float((lse - logits[torch.arange(len(tgt)), tgt]).sum())
    return total / (len(ids) - 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--imported", type=Path, required=True)
    ap.add_argument("--text", type=Path, required=True)
    ap.add_argument("--lowbit", type=Path, required=True)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=4096)
    a = ap.parse_args()
    torch.set_num_threads(2)

    text = a.text.read_text(encoding="utf-8")
    gdir, gname = str(a.gguf.parent), a.gguf.name
    hf_tok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
    ours = Tokenizer.from_file(str(a.imported / "tokenizer.json"))
    ids = hf_tok(text, add_special_tokens=False).input_ids
    ours_ids = ours.encode(text, add_special_tokens=False).ids
    check("token ids of the text", ids == ours_ids, f"{len(ids)} tokens")
    chat = hf_tok.apply_chat_template(
        [{"role": "user", "content": "What is 12 * 7? Answer in one word."}],
        tokenize=False,
        add_generation_prompt=True,
    )
    check(
        "token ids of a chat prompt",
        hf_tok(chat, add_special_tokens=False).input_ids
        == ours.encode(chat, add_special_tokens=False).ids,
        repr(chat[:60]),
    )

    model = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gname, dtype=torch.float32)
    model.eval()
    theirs = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    mine = load_file(str(a.imported / "model.safetensors"))
    diff = [k for k, v in mine.items() if k not in theirs or not np.array_equal(v, theirs[k])]
    missing = [k for k in theirs if k not in mine and k != "lm_head.weight"]
    check("weights bit-equal", not diff and not missing,
          f"{len(mine)} tensors; differ {diff[:4]}; missing {missing[:4]}")

    ids = ids[: a.max_tokens]
    ref = hf_nll(model, ids, a.seq_len)
    out = subprocess.run(
        [str(a.lowbit), "eval", "--checkpoint", str(a.imported), "--text-file", str(a.text),
         "--seq-len", str(a.seq_len), "--max-tokens", str(a.max_tokens), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    gap = abs(got["nll"] - ref)
    print(f"transformers nll {ref:.6f} (ppl {math.exp(ref):.4f}) over {len(ids) - 1} predictions")
    print(f"lowbit       nll {got['nll']:.6f} (ppl {got['ppl']:.4f}) over {got['tokens']} predictions")
    check("same prediction count", got["tokens"] == len(ids) - 1)
    check("NLL within 2e-4", gap <= 2e-4, f"|diff| = {gap:.2e}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
