"""Write data/breast_cancer.csv from scikit-learn's copy of the Wisconsin diagnostic table.

569 tumours, 30 measurements of their cell nuclei, diagnosed malignant or benign (Wolberg,
Street and Mangasarian, UCI Machine Learning Repository, CC BY 4.0, doi:10.24432/C5DW2B).
Column names are scikit-learn's feature names with each space made an underscore ("mean
radius" -> mean_radius), so they can be typed in an override without quotes; the label is
`diagnosis`, `malignant` or `benign`. Nothing is downloaded: the table ships inside
scikit-learn.

    python data/make_breast_cancer.py [--out data/breast_cancer.csv]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

TARGET = "diagnosis"
DEFAULT_OUT = Path(__file__).resolve().parent / "breast_cancer.csv"


def column(feature: str) -> str:
    """scikit-learn's feature name as a column name: spaces become underscores."""
    return feature.replace(" ", "_")


def table() -> tuple[list[str], list[list[str]]]:
    """The header and the rows as text, in scikit-learn's row order."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    header = [column(f) for f in data.feature_names] + [TARGET]
    labels = [str(n) for n in data.target_names]  # ['malignant', 'benign'], by target 0, 1
    # repr: the shortest text that reads back as the same float64 scikit-learn holds.
    rows = [[repr(float(v)) for v in x] + [labels[int(t)]]
            for x, t in zip(data.data, data.target, strict=True)]
    return header, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="CSV to write (default: breast_cancer.csv beside this script)")
    args = parser.parse_args(argv)
    header, rows = table()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # "\n" endings so the file is byte-identical on every platform.
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    malignant = sum(r[-1] == "malignant" for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows, {len(header) - 1} features, {malignant} "
          f"malignant, {len(rows) - malignant} benign")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
