#!/usr/bin/env python3
"""HuggingFace reference fixtures for lowbit's Llama (tests/fixtures/hf/).

`transformers`' LlamaForCausalLM is the independent oracle: this script builds two tiny random
models with fixed seeds, saves them with `save_pretrained` (f32 safetensors) beside a byte-level
BPE `tokenizer.json` trained with the `tokenizers` package on the project's own tiny corpus, and
writes `reference.json` with what lowbit must reproduce:

* `sequences`: fixed input ids and all their logits (float32, shortest repr), plus `mean_nll`,
  the mean next-token NLL over every predicted position of all sequences;
* `generate`: a prompt and HF's greedy `generate(do_sample=False)` tokens and decoded text, with
  the smallest top-1/top-2 logit margin met on the way (large margins keep the test robust);
* `eval`: the NLL of `eval.txt` (written beside it) as `lowbit eval` computes it: tokens of the
  file (optionally only the first `max_tokens`), non-overlapping windows of `seq_len` inputs whose
  targets are the next tokens, so every token but the first is predicted once; `nll` is the sum
  over all predictions / `tokens`, the number of predictions.

Models: `gqa-untied` (4 heads / 2 KV heads, untied head, rope_theta 5000) and `mha-tied` (5 heads
= KV heads, tied embeddings, rope_theta 20000), with odd sizes. Weights are re-drawn from a
seeded torch.Generator so they do not depend on transformers' init order, and RMSNorm weights are
perturbed so a loader that skipped them would fail.

Usage (needs torch, transformers, tokenizers, safetensors; see tests/fixtures/hf/README.md):

    .venv-hf/bin/python tools/gen_hf_fixtures.py           # (re)write tests/fixtures/hf/
    .venv-hf/bin/python tools/gen_hf_fixtures.py --check   # regenerate to a temp dir and compare
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv-hf" / "bin" / "python"

try:
    import numpy as np
    import torch
    import transformers
    import tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError:
    if VENV_PY.exists() and Path(sys.executable).resolve() != VENV_PY.resolve():
        os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit(
        "needs torch, transformers, tokenizers, safetensors: python3 -m venv .venv-hf && "
        ".venv-hf/bin/pip install torch transformers tokenizers safetensors"
    )

EOT = "<|endoftext|>"
TOKENIZER_VOCAB = 320
CORPUS = ROOT / "tests" / "fixtures" / "tiny-corpus"
TRAIN_DOCS = [f"doc{i:02d}.txt" for i in range(8)]
EVAL_DOC = "doc11.txt"
EVAL_CHARS = 1500
PROMPT = "The village baker carries"
NEW_TOKENS = 24

# name -> (config overrides, seed, vocab padding beyond the tokenizer)
MODELS = {
    "gqa-untied": (
        dict(
            hidden_size=48,
            intermediate_size=100,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            rope_theta=5000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
        ),
        1234,
        0,
    ),
    "mha-tied": (
        dict(
            hidden_size=40,
            intermediate_size=76,
            num_hidden_layers=3,
            num_attention_heads=5,
            num_key_value_heads=5,
            max_position_embeddings=48,
            rope_theta=20000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
        ),
        4321,
        3,
    ),
}
EMBED_STD = 0.5
LINEAR_STD = 0.15


def f32(x):
    """Shortest decimal that reads back as the same float32."""
    return float(str(np.float32(x)))


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB,
        min_frequency=2,
        show_progress=False,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    texts = [(CORPUS / d).read_text(encoding="utf-8") for d in TRAIN_DOCS]
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def build_model(overrides, seed, vocab):
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        initializer_range=LINEAR_STD,
        bos_token_id=None,
        eos_token_id=0,
        pad_token_id=None,
        **overrides,
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name or name.startswith("lm_head"):
                p.copy_(EMBED_STD * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(LINEAR_STD * torch.randn(p.shape, generator=gen))
    return model


def logits_of(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids], dtype=torch.long)).logits[0].to(torch.float64)


def nll_sum(logits, targets):
    lp = torch.log_softmax(logits, dim=-1)
    return -float(lp[torch.arange(len(targets)), torch.tensor(targets)].sum())


def eval_case(model, ids, seq_len, max_tokens):
    ids = ids[:max_tokens] if max_tokens is not None else ids
    total, count = 0.0, 0
    for s in range(0, len(ids) - 1, seq_len):
        window = ids[s : s + seq_len + 1]
        total += nll_sum(logits_of(model, window[:-1]), window[1:])
        count += len(window) - 1
    nll = total / count
    return {"seq_len": seq_len, "max_tokens": max_tokens, "tokens": count, "nll": nll, "ppl": math.exp(nll)}


def write_fixture(out: Path, name: str, tok):
    overrides, seed, pad = MODELS[name]
    vocab = tok.get_vocab_size(with_added_tokens=True) + pad
    model = build_model(overrides, seed, vocab)
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    tok.save(str(d / "tokenizer.json"))
    eval_text = (CORPUS / EVAL_DOC).read_text(encoding="utf-8")[:EVAL_CHARS]
    (d / "eval.txt").write_text(eval_text, encoding="utf-8")

    rng = np.random.default_rng(seed)
    seqs, total, count = [], 0.0, 0
    for length in (24, 17):
        ids = [int(x) for x in rng.integers(0, vocab, size=length)]
        logits = logits_of(model, ids)
        total += nll_sum(logits[:-1], ids[1:])
        count += length - 1
        seqs.append({"input_ids": ids, "logits": [[f32(x) for x in row] for row in logits.tolist()]})

    prompt = tok.encode(PROMPT, add_special_tokens=False).ids
    with torch.no_grad():
        out_ids = model.generate(
            torch.tensor([prompt], dtype=torch.long),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            eos_token_id=0,
            pad_token_id=0,
        )[0].tolist()
    new = out_ids[len(prompt) :]
    # Smallest top-1/top-2 gap along the greedy path (recomputed without a cache).
    full = logits_of(model, out_ids)[len(prompt) - 1 : len(out_ids) - 1]
    top2 = torch.topk(full, 2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    assert margin > 1e-3, f"{name}: greedy margin {margin} too small for a robust test"
    assert full.argmax(-1).tolist() == new, f"{name}: HF generate disagrees with its own forward"

    eval_ids = tok.encode(eval_text, add_special_tokens=False).ids
    max_len = overrides["max_position_embeddings"]
    ref = {
        "generator": "tools/gen_hf_fixtures.py",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "vocab_size": vocab,
        "tokenizer_vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "eos_token_id": 0,
        "sequences": seqs,
        "mean_nll": total / count,
        "generate": {
            "prompt": PROMPT,
            "prompt_ids": prompt,
            "max_new_tokens": NEW_TOKENS,
            "new_tokens": new,
            "text": tok.decode(new, skip_special_tokens=True),
            "min_margin": margin,
        },
        "eval": {
            "file": "eval.txt",
            "file_tokens": len(eval_ids),
            "cases": [
                eval_case(model, eval_ids, max_len, None),
                eval_case(model, eval_ids, 16, None),
                eval_case(model, eval_ids, 20, 75),
            ],
        },
    }
    (d / "reference.json").write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
    return ref


def generate(out: Path):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tok = train_tokenizer()
    for name in MODELS:
        ref = write_fixture(out, name, tok)
        print(
            f"{name}: vocab {ref['vocab_size']}, mean_nll {ref['mean_nll']:.6f}, "
            f"greedy margin {ref['generate']['min_margin']:.4f}, "
            f"eval nll {ref['eval']['cases'][0]['nll']:.6f} over {ref['eval']['cases'][0]['tokens']} tokens"
        )


def close(a, b, tol=1e-5):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol * max(1.0, abs(a))
    return a == b


def check(out: Path) -> int:
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        for name in MODELS:
            for f in sorted((Path(tmp) / name).iterdir()):
                mine, theirs = f, out / name / f.name
                if not theirs.exists():
                    print(f"MISSING {theirs}")
                    bad += 1
                elif f.name == "reference.json":
                    a, b = json.loads(mine.read_text()), json.loads(theirs.read_text())
                    a.pop("versions"), b.pop("versions")
                    if not close(a, b):
                        print(f"DIFFERS {theirs}")
                        bad += 1
                elif mine.read_bytes() != theirs.read_bytes():
                    print(f"DIFFERS {theirs}")
                    bad += 1
    print("check:", "OK" if bad == 0 else f"{bad} file(s) differ")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "hf")
    ap.add_argument("--check", action="store_true", help="regenerate to a temp dir and compare")
    a = ap.parse_args()
    if a.check:
        sys.exit(check(a.out))
    for name in MODELS:
        shutil.rmtree(a.out / name, ignore_errors=True)
    generate(a.out)


if __name__ == "__main__":
    main()
