#!/usr/bin/env python3
"""scikit-learn reference for the AutoJudge head of crates/lowbit-judge (spec algorithms.md §6.3).

The official AutoJudge head (garipovroma/autojudge) is scikit-learn: `StandardScaler` fitted on
the training rows, one `LogisticRegression(C=c, penalty="l2", solver="lbfgs")` per C of its grid,
the C with the best validation `roc_auc_score`, and a threshold table at `np.quantile`s of the
validation P(important). This script runs exactly that on a seeded synthetic feature matrix and
writes what lowbit's `train_head_split` must reproduce (tests/head_reference.rs):

    tests/fixtures/judge/head-ref.safetensors   x f32 [rows, cols], y u8 [rows],
                                                groups i64 [rows], val_groups i64 [k]
    tests/fixtures/judge/head-ref.json          scaler mean/scale, per C: coef, intercept and
                                                validation AUC, the chosen C, and the threshold
                                                table (quantile, threshold, precision, recall,
                                                accuracy, predicted-important fraction)

Two choices differ from a bare sklearn call, on purpose, and lowbit makes the same ones:
1. The features are standardised in float64 (`x.astype(np.float64)` before the scaler). The
   official script hands sklearn float32 arrays; lowbit standardises in f64, so the reference
   does too (a rounding-level difference, not a different model).
2. `max_iter=100000, tol=1e-12`: sklearn's default `max_iter=100` can stop before the minimiser
   (it warns `ConvergenceWarning`); lowbit runs L-BFGS to a gradient tolerance, so the reference
   is the converged minimiser of the same objective, which is unique (L2 makes it strictly convex).

The data: 60 prompts × 8 rows, 7 columns of different offsets and scales, one of them constant
(sklearn's scale-1 rule), labels drawn from a planted logistic rule (not separable, so every C has
a finite minimiser); 6 fixed prompts validate.

Usage:
    python3 tools/judge_head_reference.py           # (re)write tests/fixtures/judge/
    python3 tools/judge_head_reference.py --check   # regenerate into a temp dir and compare
    python3 tools/judge_head_reference.py --out DIR

On first use the script creates .venv-judge/ at the repository root from
tools/requirements-judge.txt and re-executes itself there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-judge"
REQUIREMENTS = ROOT / "tools" / "requirements-judge.txt"
FIXTURES = ROOT / "tests" / "fixtures" / "judge"

if __name__ == "__main__":
    from venv_bootstrap import ensure_venv  # tools/venv_bootstrap.py (stdlib only)

    ensure_venv(Path(__file__), VENV, REQUIREMENTS, "LOWBIT_JUDGE_IN_VENV")

# One BLAS thread: the fits are then bit-reproducible, so --check can compare bytes.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import filecmp  # noqa: E402
import tempfile  # noqa: E402

PROMPTS, PER_PROMPT, COLS = 60, 8, 7
VAL_GROUPS = [3, 11, 19, 28, 40, 52]


def official_c_grid() -> list[float]:
    """The official grid: 10^(−k/2) for k = 1..14, then 1, 3, 10, 50, 100."""
    return [10.0 ** (-k / 2) for k in range(1, 15)] + [1.0, 3.0, 10.0, 50.0, 100.0]


def make_data():
    r = np.random.default_rng(20261204)
    rows = PROMPTS * PER_PROMPT
    offsets = np.array([3.0, -1.0, 0.5, 10.0, 0.0, 2.0, 3.0])
    scales = np.array([1.0, 4.0, 0.2, 2.0, 1.0, 0.5, 0.0])  # the last column is constant
    x = (r.standard_normal((rows, COLS)) * scales + offsets).astype(np.float32)
    z = (x[:, :6].astype(np.float64) - offsets[:6]) / np.where(scales[:6] > 0, scales[:6], 1)
    logit = 1.5 * z[:, 0] - 1.0 * z[:, 1] + 0.5 * z[:, 2] + 0.25 * z[:, 4] - 0.3
    y = (r.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.uint8)
    groups = np.repeat(np.arange(PROMPTS, dtype=np.int64), PER_PROMPT)
    return x, y, groups


def table(p: np.ndarray, y: np.ndarray, n: int = 26) -> list[dict]:
    rows = []
    for q in np.linspace(0.0, 1.0, n):
        t = float(np.quantile(p, q))
        pred = (p >= t).astype(np.uint8)
        rows.append({
            "quantile": float(q),
            "threshold": t,
            "precision": float(precision_score(y, pred, zero_division=1)),
            "recall": float(recall_score(y, pred, zero_division=1)),
            "accuracy": float(accuracy_score(y, pred)),
            "predicted_important_frac": float(pred.mean()),
        })
    return rows


def write_all(out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x, y, groups = make_data()
    val = np.isin(groups, VAL_GROUPS)
    x64 = x.astype(np.float64)
    scaler = StandardScaler().fit(x64[~val])
    xtr, xva = scaler.transform(x64[~val]), scaler.transform(x64[val])
    fits = []
    for c in official_c_grid():
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            m = LogisticRegression(C=c, solver="lbfgs", max_iter=100000, tol=1e-12).fit(xtr, y[~val])
        p = m.predict_proba(xva)[:, 1]
        fits.append({"c": c, "coef": m.coef_[0].tolist(), "intercept": float(m.intercept_[0]),
                     "val_auc": float(roc_auc_score(y[val], p)), "val_p": p.tolist()})
    best = int(np.argmax([f["val_auc"] for f in fits]))  # the first of equal AUCs, as lowbit
    expected = {
        "format": "lowbit-judge-head-reference-v1",
        "scaler_mean": scaler.mean_.tolist(),
        "scaler_scale": scaler.scale_.tolist(),
        "fits": fits,
        "best_c": fits[best]["c"],
        "thresholds": table(np.array(fits[best]["val_p"]), y[val]),
    }
    save_file({"x": x, "y": y, "groups": groups,
               "val_groups": np.array(VAL_GROUPS, dtype=np.int64)},
              str(out / "head-ref.safetensors"))
    (out / "head-ref.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {out}: best C {expected['best_c']:.3g}, val AUC {fits[best]['val_auc']:.4f}, "
          f"{int(val.sum())} validation rows, {int(y[val].sum())} important")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    ap.add_argument("--out", default=str(FIXTURES))
    args = ap.parse_args()
    if not args.check:
        write_all(Path(args.out))
        return 0
    return check(Path(args.out))


def close(a, b, path: str, bad: list) -> None:
    """Recursive comparison of two JSON values: numbers to 1e-9 relative, the rest exactly."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for k in a:
            close(a[k], b[k], f"{path}.{k}", bad)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]", bad)
    elif isinstance(a, float) or isinstance(b, float):
        if not abs(float(a) - float(b)) <= 1e-9 * (1.0 + abs(float(b))):
            bad.append(f"{path}: {a} vs {b}")
    elif a != b:
        bad.append(f"{path}: {a!r} vs {b!r}")


def check(committed: Path) -> int:
    """Regenerates into a temp dir: the inputs must be byte-identical (NumPy's seeded generator),
    sklearn's results equal to 1e-9 relative (BLAS kernels may differ in the last bits from one
    CPU to another, so the JSON is compared as numbers, not bytes)."""
    with tempfile.TemporaryDirectory(prefix="judge-head-") as tmp:
        write_all(Path(tmp))
        name = "head-ref.safetensors"
        bad = [] if filecmp.cmp(Path(tmp) / name, committed / name, shallow=False) else [name]
        got = json.loads((Path(tmp) / "head-ref.json").read_text())
        want = json.loads((committed / "head-ref.json").read_text())
        close(got, want, "head-ref.json", bad)
    if bad:
        print("FAIL --check:", "; ".join(bad[:10]))
        return 1
    print("PASS --check (inputs identical, sklearn results within 1e-9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
