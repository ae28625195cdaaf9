"""Big data stays within the memory budget: chunks are sized by seeds × rows, not seeds alone
(a real process, its peak memory read from the kernel)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from runner import limits
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PEAK = """
import resource, runpy, sys
sys.argv = ["runner", *sys.argv[1:]]
try:
    runpy.run_module("runner", run_name="__main__")
finally:
    print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def test_many_rows_and_seeds_run_within_the_budget(tmp_path):
    # 400,000 rows × 100 seeds: all seeds in one chunk would take ~3 GB of working arrays.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400_000, 2)).round(4)
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    lines = ["a,b,label"] + [f"{a},{b},{c}" for (a, b), c in zip(X.tolist(), y, strict=True)]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEURON_LUCK_SPEEDUPS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", PEAK, "dataset=csv", f"dataset.path={tmp_path / 'big.csv'}",
         "dataset.features=[a,b]", "dataset.target=label", "dataset.positive=yes",
         "seed=1..100", "tracking=off", "luck.plots=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    peak = next(int(x.split()[1]) for x in out.stderr.splitlines() if x.startswith("PEAK_KIB"))
    # The budget for the chunk's arrays (1 GiB), plus the interpreter, libraries and data.
    assert limits.MEMORY_BUDGET == 2**30
    assert peak * 1024 < 2**30 + 700 * 2**20, f"{peak / 1024:.0f} MiB"
    assert "seeds evaluated  100 (1..100)" in out.stdout
