"""Write data/obesity.csv: synthetic adults (height_ft, weight_kg) labelled Obese / Not Obese.

Heights follow typical adult means in high-income countries (men 175.5 cm, sd 7.4; women 162.0 cm,
sd 7.0); BMI is log-normal with median 26.5, roughly like recent adult surveys (~28% obese).

    python data/make_obesity.py [--rows 400] [--seed 2024] [--out data/obesity.csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

FT_TO_M = 0.3048
OBESE_BMI = 30.0  # WHO cut-off: BMI >= 30 kg/m² is obese
HEADER = ("height_ft", "weight_kg", "condition")
# The lesson's worked example, kept as the first row so the lesson's input is in the data.
LESSON_ROW = (4.0, 80.0, "Obese")

HEIGHT_CM = {"male": (175.5, 7.4), "female": (162.0, 7.0)}  # (mean, sd)
HEIGHT_RANGE_CM = (140.0, 210.0)  # outside this, a normal draw is an artefact, not an adult
BMI_MEDIAN = 26.5
# ln(30 / 26.5) / 0.21 ≈ 0.59 sd, so about 28% of draws land at BMI >= 30.
BMI_SIGMA = 0.21
BMI_RANGE = (15.0, 60.0)  # beyond these a BMI is rare enough to read as a data error

DEFAULT_ROWS = 400
DEFAULT_SEED = 2024
DEFAULT_OUT = Path(__file__).resolve().parent / "obesity.csv"


def label(height_ft: float, weight_kg: float) -> str:
    """WHO class from the values as written, so the file's labels follow from its columns."""
    bmi = weight_kg / (height_ft * FT_TO_M) ** 2
    return "Obese" if bmi >= OBESE_BMI else "Not Obese"


def generate(rows: int, seed: int) -> list[tuple[float, float, str]]:
    """The lesson row followed by rows - 1 synthetic adults."""
    if rows < 1:
        raise ValueError(f"rows={rows}: need at least 1 (the lesson row)")
    rng = np.random.default_rng(seed)
    n = rows - 1
    male = rng.random(n) < 0.5
    mean = np.where(male, HEIGHT_CM["male"][0], HEIGHT_CM["female"][0])
    sd = np.where(male, HEIGHT_CM["male"][1], HEIGHT_CM["female"][1])
    height_m = np.clip(rng.normal(mean, sd), *HEIGHT_RANGE_CM) / 100.0
    bmi = np.clip(rng.lognormal(np.log(BMI_MEDIAN), BMI_SIGMA, n), *BMI_RANGE)
    weight_kg = bmi * height_m**2
    out = [LESSON_ROW]
    for h_m, w in zip(height_m, weight_kg, strict=True):
        # Label after rounding: a row near BMI 30 must be classed by what the CSV says.
        h_ft = round(float(h_m) / FT_TO_M, 2)
        w_kg = round(float(w), 1)
        out.append((h_ft, w_kg, label(h_ft, w_kg)))
    return out


def write(rows: list[tuple[float, float, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # "\n" endings so the file is byte-identical on every platform.
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        # repr gives the shortest text that reads back as the same float: "4.0", "5.73".
        writer.writerows((repr(h), repr(w), c) for h, w, c in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help="data rows, the lesson row included (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed for numpy's default_rng (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="CSV to write (default: obesity.csv beside this script)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows {args.rows}: need at least 1 (the lesson row)")
    rows = generate(args.rows, args.seed)
    write(rows, args.out)
    obese = sum(r[2] == "Obese" for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows, {obese} Obese ({obese / len(rows):.1%}), "
          f"{len(rows) - obese} Not Obese")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
