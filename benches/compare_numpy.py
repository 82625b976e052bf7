"""Times fake quantization of 16M N(0,1) values in the vectorised NumPy oracle
(tools/gen_golden.py::quantize) and prints values/s per format as `name rate` lines.
Run through benches/compare_numpy.sh, which provides the pinned venv."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import gen_golden as g  # noqa: E402
import numpy as np  # noqa: E402

N = 1 << 24
x = np.random.default_rng(0).standard_normal(N, dtype=np.float32).reshape(-1, 4096)
for name in sys.argv[1:]:
    fmt = g.FMT[name]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        g.quantize(fmt, x)
        best = min(best, time.perf_counter() - t)
    print(f"{name} {N / best:.4e}", flush=True)
