"""A million seeds, evaluate only: the whole command, the evaluation by chunk size, the draw.

1. `python -m runner seed=1..1000000 tracking=off`, whole command, `--repeats` times: wall
   time and the peak memory of the largest process (goal ≤ 10 s on 2 cores, ≤ 1 GiB).
2. `runner.evaluate.evaluate` alone, in this process, for each `--chunks` chunk_size (the
   job caps chunks at runtime.limits.CHUNK_CELLS cells; a smaller chunk_size is used as given).
3. The draw: every seed's `numpy.random.default_rng(s)` built one by one (the contract)
   against `neuron.rng.Streams` (the same numbers, vectorised), for the default single neuron.

    python benchmarks/million_seeds.py [--seeds 1000000] [--repeats 3] [--chunks 5000,750,250]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def whole_command(seeds: int, cwd: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the largest process)."""
    code = ("import resource, runpy, sys\n"
            f"sys.argv = ['runner', 'seed=1..{seeds}', 'tracking=off']\n"
            "try:\n    runpy.run_module('runner', run_name='__main__')\n"
            "finally:\n"
            "    r = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
            "            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "    print('PEAK_KIB', r, file=sys.stderr)\n")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    wall = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(out.stderr)
    peak = next(int(x.split()[1]) for x in out.stderr.splitlines() if x.startswith("PEAK_KIB"))
    return wall, peak / 1024


def evaluate_seconds(seeds: int, chunk: int) -> float:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner import evaluate
    from runner.config import register_configs, to_config
    from runner.plan import make_plan

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"seed=1..{seeds}", f"chunk_size={chunk}", "tracking=off"])
    plan = make_plan(to_config(cfg), True)
    t = time.perf_counter()
    evaluate.evaluate(plan)
    return time.perf_counter() - t


def draw_seconds(seeds: int) -> tuple[float, float]:
    """(one generator a seed, Streams) for `seeds` seeds of the default neuron (3 draws)."""
    from neuron.rng import Streams

    s = np.arange(1, seeds + 1)
    t = time.perf_counter()
    for seed in s.tolist():
        np.random.default_rng(seed).random(2)
    one_by_one = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, seeds, 65_536):
        st = Streams(s[i:i + 65_536])
        st.random((1, 2))
        st.random((1,))
    return one_by_one, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunks", default="5000,750,250")
    a = p.parse_args()
    print(f"machine        {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          "(timings need it idle)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [whole_command(a.seeds, tmp) for _ in range(a.repeats)]
    walls = [r[0] for r in runs]
    print(f"whole command  python -m runner seed=1..{a.seeds} tracking=off: median "
          f"{statistics.median(walls):.2f} s ({', '.join(f'{w:.2f}' for w in walls)}), peak "
          f"{max(r[1] for r in runs):.0f} MiB (goals ≤ 10 s, ≤ 1024 MiB)")
    for chunk in [int(c) for c in a.chunks.split(",")]:
        times = [evaluate_seconds(a.seeds, chunk) for _ in range(a.repeats)]
        print(f"evaluate       chunk_size={chunk}: median {statistics.median(times):.2f} s")
    one, streams = draw_seconds(min(a.seeds, 200_000))
    print(f"draw           {min(a.seeds, 200_000):,} seeds: default_rng seed by seed "
          f"{one:.2f} s, Streams {streams:.3f} s ({one / streams:.0f}× faster)")


if __name__ == "__main__":
    main()
