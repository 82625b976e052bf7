"""Shared start of the oracle scripts: run inside a venv of their own with pinned requirements.

A script calls `ensure_venv(...)` before importing any third-party package. On first use it
creates the venv at the repository root, installs the requirements file into it, and re-executes
the script there; it reinstalls when the requirements file changes (its SHA-256 is kept in a stamp
file inside the venv). Standard library only, so it runs under the machine's bare Python 3.11.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path


def ensure_venv(script: Path, venv: Path, requirements: Path, marker: str) -> None:
    """Re-executes `script` inside `venv` (created and filled from `requirements` if needed).

    `marker` is an environment variable set in the child, so the re-executed script knows it is
    already inside its venv even when `sys.prefix` resolves differently.
    """
    if os.environ.get(marker) == "1" or Path(sys.prefix).resolve() == venv.resolve():
        return
    name = script.stem
    if sys.version_info[:2] != (3, 11):
        print(f"warning: {name} is specified for Python 3.11, running {sys.version.split()[0]}",
              file=sys.stderr)
    py = venv / "bin" / "python"
    stamp = venv / f".{requirements.stem}.sha256"
    want = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if not py.exists():
        print(f"{name}: creating {venv}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    if not stamp.exists() or stamp.read_text().strip() != want:
        print(f"{name}: installing {requirements.name} into {venv.name}", file=sys.stderr)
        subprocess.check_call([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                               "-r", str(requirements)])
        stamp.write_text(want + "\n")
    env = dict(os.environ, **{marker: "1"})
    os.execve(str(py), [str(py), str(script.resolve()), *sys.argv[1:]], env)
