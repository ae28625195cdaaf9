"""Write data/moons.csv: two interleaving half circles (x1, x2) with 10% of the labels flipped.

No straight line separates the moons, so one neuron stays well below what a small network
reaches; the flipped labels cap every model near 90% and leave room for luck.

    python data/make_moons.py [--rows 400] [--seed 2020] [--noise 0.2] [--flip 0.1] [--out ...]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HEADER = ("x1", "x2", "moon")
LABELS = ("upper", "lower")  # the first is the positive class
DECIMALS = 4  # written to 4 decimals: far below the noise, and a short file

DEFAULT_ROWS = 400
DEFAULT_SEED = 2020
DEFAULT_NOISE = 0.2  # sd of the Gaussian added to each coordinate (scikit-learn's `noise`)
DEFAULT_FLIP = 0.1  # share of the rows whose label is swapped
DEFAULT_OUT = Path(__file__).resolve().parent / "moons.csv"


def generate(rows: int, seed: int, noise: float = DEFAULT_NOISE, flip: float = DEFAULT_FLIP
             ) -> list[tuple[float, float, str]]:
    """rows // 2 points on each moon, in random order, the labels of round(flip * rows) of
    them swapped (as many from each moon, so both classes keep rows // 2).

    The moons are scikit-learn's make_moons layout: the upper one (cos t, sin t) and the lower
    one (1 - cos t, 1/2 - sin t), t evenly spaced over [0, pi]; then N(0, noise^2) on each
    coordinate.
    """
    if rows < 4 or rows % 2:
        raise ValueError(f"rows={rows}: need an even number, at least 4")
    if not 0.0 <= flip <= 1.0:
        raise ValueError(f"flip={flip}: must be a share between 0 and 1")
    rng = np.random.default_rng(seed)
    half = rows // 2
    t = np.linspace(0.0, np.pi, half)
    x = np.concatenate([np.cos(t), 1.0 - np.cos(t)])
    y = np.concatenate([np.sin(t), 0.5 - np.sin(t)])
    label = np.repeat([0, 1], half)  # index into LABELS
    x = x + rng.normal(0.0, noise, rows)
    y = y + rng.normal(0.0, noise, rows)
    per_moon = int(round(flip * rows)) // 2
    flipped = np.concatenate([rng.choice(half, per_moon, replace=False),
                              half + rng.choice(half, per_moon, replace=False)])
    label[flipped] = 1 - label[flipped]
    order = rng.permutation(rows)
    return [(round(float(x[i]), DECIMALS), round(float(y[i]), DECIMALS), LABELS[label[i]])
            for i in order]


def write(rows: list[tuple[float, float, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # "\n" endings so the file is byte-identical on every platform.
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        # repr: the shortest text that reads back as the same float.
        writer.writerows((repr(a), repr(b), c) for a, b, c in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help="data rows, an even number (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed for numpy's default_rng (default %(default)s)")
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE,
                        help="sd of the noise on each coordinate (default %(default)s)")
    parser.add_argument("--flip", type=float, default=DEFAULT_FLIP,
                        help="share of labels swapped (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="CSV to write (default: moons.csv beside this script)")
    args = parser.parse_args(argv)
    try:
        rows = generate(args.rows, args.seed, args.noise, args.flip)
    except ValueError as e:
        parser.error(str(e))
    write(rows, args.out)
    upper = sum(r[2] == LABELS[0] for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows, {upper} {LABELS[0]}, "
          f"{len(rows) - upper} {LABELS[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
