#!/usr/bin/env python3
"""Independent reference for crates/lowbit-gguf: writes the GGUF fixtures in tests/fixtures/gguf/.

Everything expected here comes from the PyPI `gguf` package (the Python side of llama.cpp's
gguf-py), not from the Rust code: tensors are quantized with `gguf.quants.quantize` (or, for the
types gguf cannot quantize, filled with seeded random bytes whose f16 scales are valid), files are
written with `gguf.GGUFWriter`, and the expected values are `gguf.quants.dequantize` of the very
bytes written, stored as little-endian f32 bit patterns.

Fixtures (described in tools/README.md): types/<TYPE>.gguf + types/<TYPE>.f32 (one tensor per ggml
type and its dequantized f32 values), meta.gguf (every metadata value type), llama-tiny.gguf +
llama-tiny.expected.safetensors (a 2-layer llama and its HF tensors, Q/K un-permuted in NumPy),
spm-vocab.gguf + spm-vocab.expected.json (a SentencePiece vocabulary and the ids of a
re-implementation of llama.cpp's SPM tokenizer).

Usage:
    python3 tools/gen_gguf_fixtures.py            # (re)write tests/fixtures/gguf/
    python3 tools/gen_gguf_fixtures.py --out DIR  # write somewhere else
    python3 tools/gen_gguf_fixtures.py --check    # regenerate into a temp dir, compare, exit 1 on diff

On first use the script creates the virtual environment .venv-tools-gguf/ at the repository root,
installs tools/requirements-gguf.txt into it and re-executes itself there. See tools/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-tools-gguf"
REQUIREMENTS = ROOT / "tools" / "requirements-gguf.txt"
PINS = {"gguf": "0.19.0", "numpy": "2.4.6"}


if __name__ == "__main__":
    from venv_bootstrap import ensure_venv  # tools/venv_bootstrap.py (stdlib only)

    ensure_venv(Path(__file__), VENV, REQUIREMENTS, "LOWBIT_GGUF_IN_VENV")

import argparse  # noqa: E402
import filecmp  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
import zlib  # noqa: E402
from importlib.metadata import version  # noqa: E402

import gguf  # noqa: E402
import numpy as np  # noqa: E402
from gguf import GGMLQuantizationType as T  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

QK_K = 256


def rng(name: str) -> np.random.Generator:
    """One deterministic stream per fixture, independent of the others."""
    return np.random.default_rng([20261202, zlib.crc32(name.encode())])


def finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def f16_bytes(r: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """n finite, normal-range f16 values as bytes (the block scales of random K-quant blocks)."""
    v = (r.uniform(0.5, 1.5, n) * scale * r.choice([-1.0, 1.0], n)).astype(np.float16)
    return v.view(np.uint8).reshape(n, 2)


# Byte offsets of the f16 fields inside a block, from ggml-common.h (block_q2_K ... block_q6_K).
K_LAYOUT = {
    T.Q2_K: (84, [(80, 0.01), (82, 0.01)]),   # scales[16] qs[64] d dmin
    T.Q3_K: (110, [(108, 0.01)]),             # hmask[32] qs[64] scales[12] d
    T.Q4_K: (144, [(0, 0.01), (2, 0.01)]),    # d dmin scales[12] qs[128]
    T.Q5_K: (176, [(0, 0.01), (2, 0.01)]),    # d dmin scales[12] qh[32] qs[128]
    T.Q6_K: (210, [(208, 0.01)]),             # ql[128] qh[64] scales[16] d
}


def type_tensor(qtype: T) -> tuple[np.ndarray, tuple[int, int]]:
    """(raw bytes of tensor `t`, (rows, row length)) for one ggml type."""
    r = rng(f"type/{qtype.name}")
    if qtype in K_LAYOUT:
        rows, cols = 2, 2 * QK_K
        size, fields = K_LAYOUT[qtype]
        n_blocks = rows * cols // QK_K
        raw = r.integers(0, 256, (n_blocks, size), dtype=np.uint8)
        for off, scale in fields:
            raw[:, off:off + 2] = f16_bytes(r, n_blocks, scale)
        return raw.reshape(rows, -1), (rows, cols)
    rows, cols = 3, 64
    x = (r.standard_normal((rows, cols)) * 0.5).astype(np.float32)
    # A few exact zeros and an outlier per row exercise the scale/rounding edge cases.
    x[:, 5] = 0.0
    x[:, 17] *= 8.0
    q = quantize(x, qtype)
    return q.view(np.uint8).reshape(rows, -1), (rows, cols)


TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1,
         T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]


def write_types(out: Path) -> None:
    d = out / "types"
    d.mkdir(parents=True, exist_ok=True)
    for qtype in TYPES:
        raw, (rows, cols) = type_tensor(qtype)
        w = gguf.GGUFWriter(d / f"{qtype.name}.gguf", "lowbit-test")
        # A uint8 array with raw_dtype: GGUFWriter derives the element shape from the byte shape.
        w.add_tensor("t", raw, raw_dtype=qtype)
        finish(w)
        want = dequantize(raw, qtype).astype(np.float32).reshape(rows, cols)
        assert np.isfinite(want).all(), qtype.name
        want.astype("<f4").tofile(d / f"{qtype.name}.f32")


def write_meta(out: Path) -> None:
    w = gguf.GGUFWriter(out / "meta.gguf", "lowbit-test")
    w.data_alignment = 64
    w.add_uint32("general.alignment", 64)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo ✓")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", -0.125)
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_str", ["a", "", "ç"])
    w.add_array("t.arr_nested", [[1, 2], [3]])
    w.add_tensor("x", np.arange(8, dtype=np.float32).reshape(2, 4))
    w.add_tensor("y", np.arange(3, dtype=np.float16))
    finish(w)


# --- tiny llama --------------------------------------------------------------------------------

N_LAYER, HIDDEN, N_HEAD, N_KV, FFN, CTX = 2, 64, 4, 2, 32, 128


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character map (byte-level BPE's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = [("h", "e"), ("l", "l"), ("o", "r"), ("ll", "o"), ("e", "llo"), ("Ġ", "w"), ("he", "ll"), ("hell", "o"),
          ("Ġw", "or"), ("Ġwor", "l"), ("Ġworl", "d"), ("Ġ", "t"), ("Ġt", "he"), ("i", "n"),
          ("Ġ", "in"), ("H", "ello")]


def tiny_vocab() -> tuple[list[str], list[str], list[int]]:
    b2u = bytes_to_unicode()
    tokens = list(SPECIALS)
    types = [gguf.TokenType.CONTROL] * len(SPECIALS)
    for b in [10] + list(range(32, 127)) + [0xC3, 0xA9, 0xE2, 0x9C, 0x93]:
        tokens.append(b2u[b])
        types.append(gguf.TokenType.NORMAL)
    merges = []
    for a, b in MERGES:
        assert a in tokens and b in tokens, (a, b)
        merges.append(f"{a} {b}")
        if a + b not in tokens:
            tokens.append(a + b)
            types.append(gguf.TokenType.NORMAL)
    return tokens, merges, [int(t) for t in types]


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's Q/K permutation (HF rotate-half -> GGUF interleaved)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of `permute`, written independently of the Rust importer."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Minimal safetensors writer (the format is an 8-byte header length, a JSON header, data)."""
    header: dict[str, object] = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_llama(out: Path) -> None:
    r = rng("llama-tiny")
    tokens, merges, types = tiny_vocab()
    vocab = len(tokens)
    hd = HIDDEN // N_HEAD
    w = gguf.GGUFWriter(out / "llama-tiny.gguf", "llama")
    w.add_name("lowbit tiny llama")
    w.add_context_length(CTX)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(FFN)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    w.add_rope_freq_base(50000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(0)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")

    expected: dict[str, np.ndarray] = {}

    def add(gguf_name: str, hf_name: str, hf: np.ndarray, qtype: T, n_head: int | None = None) -> None:
        stored = permute(hf, n_head) if n_head else hf
        q = quantize(stored.astype(np.float32), qtype)
        w.add_tensor(gguf_name, q, raw_dtype=qtype)
        deq = dequantize(q, qtype).astype(np.float32).reshape(stored.shape)
        expected[hf_name] = unpermute(deq, n_head) if n_head else deq

    def mat(rows: int, cols: int) -> np.ndarray:
        return (r.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    def norm() -> np.ndarray:
        return (1 + 0.1 * r.standard_normal(HIDDEN)).astype(np.float32)

    add("token_embd.weight", "model.embed_tokens.weight", mat(vocab, HIDDEN), T.Q8_0)
    for i in range(N_LAYER):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        add(p + "attn_norm.weight", h + "input_layernorm.weight", norm(), T.F32)
        add(p + "attn_q.weight", h + "self_attn.q_proj.weight", mat(N_HEAD * hd, HIDDEN), T.Q4_1, N_HEAD)
        add(p + "attn_k.weight", h + "self_attn.k_proj.weight", mat(N_KV * hd, HIDDEN), T.Q8_0, N_KV)
        add(p + "attn_v.weight", h + "self_attn.v_proj.weight", mat(N_KV * hd, HIDDEN), T.Q4_1)
        add(p + "attn_output.weight", h + "self_attn.o_proj.weight", mat(HIDDEN, HIDDEN), T.Q8_0)
        add(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", norm(), T.F32)
        add(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", mat(FFN, HIDDEN), T.Q4_1)
        add(p + "ffn_up.weight", h + "mlp.up_proj.weight", mat(FFN, HIDDEN), T.Q8_0)
        add(p + "ffn_down.weight", h + "mlp.down_proj.weight", mat(HIDDEN, FFN), T.Q4_1)
    add("output_norm.weight", "model.norm.weight", norm(), T.F32)
    add("output.weight", "lm_head.weight", mat(vocab, HIDDEN), T.Q8_0)
    finish(w)
    write_safetensors(out / "llama-tiny.expected.safetensors", expected)


# --- SentencePiece vocabulary -------------------------------------------------------------------

SPM_PIECES = ["▁", *"abcdefghijklmnopqrstuvwxyzH", *"0123456789", "!", ",", ".", "'",
              "he", "ll", "llo", "▁t", "▁the", "▁a", "▁he", "▁hello", "▁H", "▁Hello", "or", "ld",
              "▁w", "▁wor", "▁world", "in", "▁in", "▁is", "▁i", "is", "▁▁", "▁1", "12", "▁12"]


def spm_vocab() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + SPM_PIECES
    types = [int(gguf.TokenType.UNKNOWN), int(gguf.TokenType.CONTROL), int(gguf.TokenType.CONTROL)] \
        + [int(gguf.TokenType.BYTE)] * 256 + [int(gguf.TokenType.NORMAL)] * len(SPM_PIECES)
    # Later pieces score lower, as in SentencePiece BPE vocabularies (score = -rank).
    scores = [0.0] * (3 + 256) + [-float(i) for i in range(len(SPM_PIECES))]
    return tokens, scores, types


def spm_tokenize(text: str, tokens: list[str], scores: list[float]) -> list[int]:
    """llama.cpp's SPM tokenizer: add the space prefix, escape spaces as U+2581, start from the
    characters, repeatedly merge the adjacent pair whose concatenation is a token with the highest
    score (ties: the leftmost pair), then map unmerged characters missing from the vocabulary to
    their UTF-8 byte tokens."""
    ids = {t: i for i, t in enumerate(tokens)}
    syms = list((" " + text).replace(" ", "\u2581"))
    while True:
        best = None
        for i in range(len(syms) - 1):
            t = ids.get(syms[i] + syms[i + 1])
            if t is not None and (best is None or scores[t] > best[0]):
                best = (scores[t], i)
        if best is None:
            break
        i = best[1]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    out = []
    for s in syms:
        if s in ids:
            out.append(ids[s])
        else:
            out.extend(ids[f"<0x{b:02X}>"] for b in s.encode("utf-8"))
    return out


SPM_TEXTS = ["Hello world", "the hello is in", "Hi, é!", "  12 1234", "a\nb", "it's"]


def write_spm(out: Path) -> None:
    tokens, scores, types = spm_vocab()
    w = gguf.GGUFWriter(out / "spm-vocab.gguf", "llama")
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    finish(w)
    expected = {"texts": SPM_TEXTS, "ids": [spm_tokenize(t, tokens, scores) for t in SPM_TEXTS]}
    (out / "spm-vocab.expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n")


def generate(out: Path) -> None:
    for pkg, want in PINS.items():
        if (have := version(pkg)) != want:
            sys.exit(f"gen_gguf_fixtures: {pkg} {have} installed, {want} pinned")
    out.mkdir(parents=True, exist_ok=True)
    write_types(out)
    write_meta(out)
    write_llama(out)
    write_spm(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "gguf")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    args = ap.parse_args()
    if not args.check:
        generate(args.out)
        print(f"wrote {args.out}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        bad = []
        for p in sorted(Path(tmp).rglob("*")):
            if p.is_file():
                rel = p.relative_to(tmp)
                q = args.out / rel
                if not q.is_file() or not filecmp.cmp(p, q, shallow=False):
                    bad.append(str(rel))
                    print(f"DIFF {rel}")
        if bad:
            sys.exit(1)
        print("PASS: fixtures regenerate byte-identically")


if __name__ == "__main__":
    main()
