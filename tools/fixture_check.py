"""`--check` of the fixture scripts: regenerate into a temp dir and compare byte for byte.

Shared by tools/gptq_reference.py and tools/aqlm_reference.py (standard library only).
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def check_regenerated(write_all: Callable[[Path], None], committed: Path, prefix: str) -> int:
    """Runs `write_all(tmp)` and compares every file with `committed` (its README.md aside).

    Prints one PASS/FAIL line and returns the exit status (0 when identical, 1 otherwise).
    """
    committed = Path(committed)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        write_all(tmp)
        want = sorted(p.name for p in committed.iterdir() if p.name != "README.md")
        got = sorted(p.name for p in tmp.iterdir())
        bad = [n for n in got
               if n not in want or not filecmp.cmp(tmp / n, committed / n, shallow=False)]
        bad += [n for n in want if n not in got]
        if bad:
            print("FAIL --check: differs:", ", ".join(bad))
            return 1
        print(f"PASS --check ({len(got)} files identical)")
        return 0
    finally:
        shutil.rmtree(tmp)
