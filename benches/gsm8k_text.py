"""Writes the GSM8K texts of the PTQ study: the first 400 train problems (calibration) and the
first 60 test problems (held-out), each problem as "question\nanswer\n\n"; with
--finetune-problems N also train problems 400..400+N (the PV-Tuning study's fine-tuning text). GSM8K's train and
test splits are disjoint, so held-out text is neither calibration nor (SmolLM2 aside) training
text. Reads ../shared/data/gsm8k or --gsm8k DIR (a user-supplied copy; the project never needs
it to build or test)."""

import argparse
import json
from pathlib import Path


def problems(path: Path, n: int) -> str:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if len(out) == n:
                break
            d = json.loads(line)
            out.append(d["question"] + "\n" + d["answer"] + "\n\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gsm8k", type=Path, default=Path("../shared/data/gsm8k"))
    ap.add_argument("--out-dir", type=Path, default=Path("checkpoints/ptq-text"))
    ap.add_argument("--finetune-problems", type=int, default=0,
                    help="also write gsm8k-train-ft-N.txt: train problems 400 .. 400+N (fine-tuning text)")
    a = ap.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    (a.out_dir / "gsm8k-train-400.txt").write_text(problems(a.gsm8k / "train.jsonl", 400), encoding="utf-8")
    (a.out_dir / "gsm8k-test-60.txt").write_text(problems(a.gsm8k / "test.jsonl", 60), encoding="utf-8")
    if a.finetune_problems:
        every = problems(a.gsm8k / "train.jsonl", 400 + a.finetune_problems)
        first = problems(a.gsm8k / "train.jsonl", 400)
        (a.out_dir / f"gsm8k-train-ft-{a.finetune_problems}.txt").write_text(every[len(first):], encoding="utf-8")


if __name__ == "__main__":
    main()
