"""data/obesity.csv: reproducible from its script, and labelled by the WHO rule it claims."""

import csv
import importlib.util
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"
CSV = DATA / "obesity.csv"
LESSON = DATA / "lesson.csv"
COLUMNS = ["height_ft", "weight_kg", "condition"]


def _load_script():
    # data/ is not a package, so load the script from its path.
    spec = importlib.util.spec_from_file_location("make_obesity", DATA / "make_obesity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [(float(h), float(w), c) for h, w, c in reader]
    return header, rows


def _who(height_ft, weight_kg):
    # Recomputed here, not imported, so a wrong rule in the script cannot pass.
    return "Obese" if weight_kg / (height_ft * 0.3048) ** 2 >= 30 else "Not Obese"


@pytest.fixture(scope="module")
def table():
    return _read(CSV)


def test_committed_csv_is_what_the_script_writes(tmp_path):
    out = tmp_path / "obesity.csv"
    assert _load_script().main(["--out", str(out)]) == 0
    assert out.read_bytes() == CSV.read_bytes(), (
        "data/obesity.csv differs from the script's output; run python data/make_obesity.py"
    )


def test_script_depends_on_seed_and_rows(tmp_path):
    script = _load_script()
    a, b, c = (tmp_path / n for n in ("a.csv", "b.csv", "c.csv"))
    script.main(["--out", str(a), "--seed", "1"])
    script.main(["--out", str(b), "--seed", "2"])
    script.main(["--out", str(c), "--seed", "1", "--rows", "50"])
    assert a.read_bytes() != b.read_bytes()
    _, rows = _read(c)
    assert len(rows) == 50
    assert rows[0] == (4.0, 80.0, "Obese")


def test_header_and_size(table):
    header, rows = table
    assert header == COLUMNS
    assert len(rows) >= 300


def test_labels_follow_the_who_rule(table):
    _, rows = table
    wrong = [r for r in rows if r[2] != _who(r[0], r[1])]
    assert not wrong, f"{len(wrong)} rows mislabelled, e.g. {wrong[:3]}"


def test_lesson_row_first_and_obese(table):
    _, rows = table
    assert rows[0] == (4.0, 80.0, "Obese")
    assert CSV.read_text(encoding="utf-8").splitlines()[1] == "4.0,80.0,Obese"


def test_both_classes_with_a_plausible_obese_share(table):
    _, rows = table
    labels = {r[2] for r in rows}
    assert labels == {"Obese", "Not Obese"}
    share = sum(r[2] == "Obese" for r in rows) / len(rows)
    assert 0.15 <= share <= 0.45, share


def test_adult_heights_and_weights(table):
    _, rows = table
    heights = [r[0] for r in rows]
    weights = [r[1] for r in rows]
    assert min(heights) >= 4.0 and max(heights) <= 7.5, (min(heights), max(heights))
    assert min(weights) > 30 and max(weights) < 250, (min(weights), max(weights))
    # Not one height repeated: the columns really vary.
    assert len(set(heights)) > len(rows) // 4


def test_rounding(table):
    _, rows = table
    assert all(round(h, 2) == h and round(w, 1) == w for h, w, _ in rows)


def test_lesson_csv():
    header, rows = _read(LESSON)
    assert header == COLUMNS
    assert rows == [(4.0, 80.0, "Obese")]
    assert _who(4.0, 80.0) == "Obese"
