"""The analytics benchmark's peak memory is the measuring process's own, not its parent's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_worker_spawned_by_a_large_parent_reports_its_own_peak() -> None:
    # the parent touches 400 MB, then spawns a worker the way bench_analytics does (subprocess, exec)
    ballast = bytearray(400 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import bench_analytics as b; print(b._peak_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) < 200, f"worker reported {out.strip()} MB: the parent's 400 MB leaked into its peak"
    del ballast
