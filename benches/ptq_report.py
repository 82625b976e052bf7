"""Markdown table of a PTQ study's rows.jsonl (benches/ptq_study.sh): held-out NLL / PPL,
ΔNLL to full precision, stored bits per weight of the compressed linears, mean relative output
error on the calibration inputs and compress wall time, one row per method × format."""

import json
import sys


def main() -> None:
    rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
    base = next((r for r in rows if r["method"] == "none"), None)
    print("| format | method | bits/value | held-out NLL | PPL | ΔNLL vs f32 | mean rel. output error | compress s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        d = r["nll"] - base["nll"] if base else float("nan")
        bpv = f"{r['bits_per_value']:.3f}" if r.get("bits_per_value") else "32"
        err = f"{r['mean_rel_error']:.2e}" if r.get("mean_rel_error") is not None else "–"
        sec = f"{r['seconds']:.0f}" if r.get("seconds") is not None else "–"
        print(f"| {r['format']} | {r['method']} | {bpv} | {r['nll']:.4f} | {r['ppl']:.3f} | {d:+.4f} | {err} | {sec} |")
    if rows:
        print(f"\n{rows[0]['tokens']} held-out predictions per row.")


if __name__ == "__main__":
    main()
