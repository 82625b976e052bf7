#!/usr/bin/env python3
"""Writes docs/results/grids.md from a benches/grid_study.sh output directory.

Reads, per run, the `lowbit train --json` summary (`<run>.json`) and `<run>/metrics.jsonl`; the
GMSE table (`gmse.json`, `lowbit formats report --json`) and the real-block relative MSE lines of
`lowbit grids show --real-blocks` (`show-*.txt`). Draws the validation learning curves as an SVG
(standard library only, so the script needs nothing installed).
"""

import argparse
import json
import math
import re
from pathlib import Path

FORMATS = ["nvfp4", "mxfp4", "nvfp4-po2", "mpo2", "split87", "sfp4"]
# Format name of each recipe's weight/input quantizer (for GMSE and real-block MSE).
FORMAT_OF = {
    "nvfp4": "nvfp4",
    "mxfp4": "mxfp4",
    "nvfp4-po2": "po2-nf4-default",
    "mpo2": "mpo2",
    "split87": "split87",
    "sfp4": "sfp4",
}
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#000000"]


def read_json(p):
    return json.loads(Path(p).read_text())


def metrics(run_dir):
    rows = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def real_mse(out):
    """{format label: (weights rel-MSE, activations rel-MSE)} from the `grids show` outputs."""
    pat = re.compile(
        r"^gmse (\S+)(?: \((?:file|built-in)\))?\s+.*real_rel_mse weights (\S+) activations (\S+)"
    )
    res = {}
    for f in sorted(out.glob("show-*.txt")):
        for line in f.read_text().splitlines():
            m = pat.match(line)
            if m:
                res.setdefault(m.group(1), (float(m.group(2)), float(m.group(3))))
    return res


def svg_curves(curves, path, title):
    """Validation loss vs tokens, one polyline per run (W4A4 runs and bf16)."""
    w, h, ml, mr, mt, mb = 760, 460, 70, 200, 40, 50
    pts = [p for c in curves.values() for p in c]
    if not pts:
        return
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    pad = 0.05 * (y1 - y0 or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    sx = lambda x: ml + (x - x0) / ((x1 - x0) or 1.0) * (w - ml - mr)
    sy = lambda y: mt + (y1 - y) / ((y1 - y0) or 1.0) * (h - mt - mb)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{ml}" y1="{h - mb}" x2="{w - mr}" y2="{h - mb}" stroke="black"/>',
        f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{h - mb}" stroke="black"/>',
        f'<text x="{(ml + w - mr) / 2}" y="{h - 12}" text-anchor="middle">training tokens</text>',
        f'<text x="16" y="{(mt + h - mb) / 2}" transform="rotate(-90 16 {(mt + h - mb) / 2})" '
        'text-anchor="middle">validation loss (nats/token)</text>',
    ]
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        xv = x0 + (x1 - x0) * i / 4
        out.append(f'<text x="{ml - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.2f}</text>')
        out.append(f'<text x="{sx(xv):.1f}" y="{h - mb + 16}" text-anchor="middle">{xv / 1e6:.2f}M</text>')
    for k, (name, c) in enumerate(curves.items()):
        col = COLOURS[k % len(COLOURS)]
        poly = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in c)
        out.append(f'<polyline points="{poly}" fill="none" stroke="{col}" stroke-width="1.8"/>')
        for x, y in c:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{col}"/>')
        ly = mt + 14 + 18 * k
        out.append(f'<line x1="{w - mr + 12}" y1="{ly - 4}" x2="{w - mr + 32}" y2="{ly - 4}" stroke="{col}" stroke-width="2"/>')
        out.append(f'<text x="{w - mr + 38}" y="{ly}">{name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="benches/grid_study.sh output directory")
    ap.add_argument("--doc", default="docs/results/grids.md")
    ap.add_argument("--real-blocks", default="checkpoints/nvfp4")
    ap.add_argument("--command", default="benches/grid_study.sh")
    ap.add_argument("--notes", default="docs/results/grids-notes.md",
                    help="hand-written reading of the results, appended when it exists")
    a = ap.parse_args()
    out, doc = Path(a.out), Path(a.doc)

    gmse = {r["name"]: r for r in read_json(out / "gmse.json")}
    real = real_mse(out)
    runs = {}
    for name in ["bf16"] + [f"{f}-{m}" for f in FORMATS for m in ("w4a4", "w4")]:
        p = out / f"{name}.json"
        if p.exists():
            runs[name] = (read_json(p), metrics(out / name))
    if "bf16" not in runs:
        raise SystemExit(f"{out}/bf16.json missing: run benches/grid_study.sh first")
    bf16 = runs["bf16"][0]["val_loss"]
    r0 = runs["bf16"][1]
    steps = runs["bf16"][0]["steps"]
    tokens = runs["bf16"][0]["tokens"]

    lines = []
    lines.append("| recipe | quantized | val loss | Δ vs bf16 | GMSE (N(0,1)) | eff. bits | "
                 "real rel-MSE W | real rel-MSE A | bits/value | tok/s |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    s, _ = runs["bf16"]
    lines.append(f"| bf16 | — | {s['val_loss']:.4f} | 0 | — | — | — | — | 16 | {s['tok_s']:.0f} |")
    for f in FORMATS:
        fmt = FORMAT_OF[f]
        g = gmse.get(fmt, {})
        rw, ra = real.get(fmt, (math.nan, math.nan))
        for mode, label in (("w4a4", "W4A4"), ("w4", "W only")):
            name = f"{f}-{mode}"
            if name not in runs:
                continue
            s, _ = runs[name]
            lines.append(
                f"| {f} | {label} | {s['val_loss']:.4f} | {s['val_loss'] - bf16:+.4f} | "
                f"{g.get('gmse', math.nan):.5f} | {g.get('effective_bits', math.nan):.3f} | "
                f"{rw:.5f} | {'—' if mode == 'w4' else f'{ra:.5f}'} | "
                f"{g.get('bits_per_value', math.nan):.3f} | {s['tok_s']:.0f} |"
            )

    curves = {}
    for name in ["bf16"] + [f"{f}-w4a4" for f in FORMATS]:
        if name in runs:
            pts = [(r["tokens"], r["val_loss"]) for r in runs[name][1] if r.get("val_loss") is not None]
            if pts:
                curves[name] = pts
    svg = doc.parent / "grids-curves.svg"
    doc.parent.mkdir(parents=True, exist_ok=True)
    svg_curves(curves, svg, f"Validation loss, W4A4 formats vs bf16 ({steps} steps)")

    body = f"""# Multi-grid comparison (generated by `benches/grid_study_report.py`)

Produced by `{a.command.strip()}`: the same model, data order and seed for every run, {steps}
steps, {tokens:,} training tokens (the run directories' `recipe.resolved.toml` give every
setting). W4A4 = weights and input activations of every linear inside the blocks quantized;
W only = `--set compression.input=none`. GMSE on 2^22 N(0,1) samples (`lowbit formats report`);
real rel-MSE = Σ(x − Q(x))² / Σx² over the sampled weight (W) and activation (A) blocks of
`{a.real_blocks}` (`lowbit grids show --real-blocks`), the checkpoint the learned grids were
learned on. tok/s was measured on the shared 2-core CPU machine and is indicative only.

{chr(10).join(lines)}

![validation curves](grids-curves.svg)

Learned grids: `grids/po2-nf4-default.toml` (PO2(NF4) partner; NF4·6 frozen) and
`grids/mpo2.toml` (both grids learned); their levels against E2M1 and NF4:
![levels](grids-levels.png)
![MPO2 levels](grids-levels-mpo2.png)
"""
    notes = Path(a.notes)
    if notes.exists():
        body += "\n" + notes.read_text()
    doc.write_text(body)


if __name__ == "__main__":
    main()
