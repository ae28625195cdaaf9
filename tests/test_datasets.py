"""The shipped datasets beside the lesson's: each loads through its config, holds what
data/README.md says, and is what its script writes, byte for byte."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from runner import data, limits
from runner.uri import safe_key

DATA = Path(__file__).resolve().parent.parent / "data"


def script(name):
    # data/ is not a package, so load the script from its path.
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, rows, features, positives, positive, negative", [
    ("moons", 400, 2, 200, "upper", "lower"),
    ("breast_cancer", 569, 30, 212, "malignant", "benign"),
])
def test_loads_through_its_config(make_cfg, name, rows, features, positives, positive,
                                  negative):
    cfg = make_cfg(f"dataset={name}")
    ds = data.load(cfg.dataset)
    assert ds.X.shape == (rows, features)
    assert int(ds.y.sum()) == positives and (ds.positive, ds.negative) == (positive, negative)
    # Each column is its own MLflow param key (w.<feature>), as typed: no character replaced.
    keys = [f"w0.{safe_key(f)}" for f in ds.features]
    assert [k[3:] for k in keys] == ds.features
    assert max(map(len, keys)) <= limits.MLFLOW_KEY_LENGTH
    if cfg.dataset.standardize:
        np.testing.assert_allclose(ds.X.mean(axis=0), 0, atol=1e-12)


def test_moons_is_what_its_script_writes(tmp_path):
    out = tmp_path / "moons.csv"
    assert script("make_moons").main(["--out", str(out)]) == 0
    assert out.read_bytes() == (DATA / "moons.csv").read_bytes(), (
        "data/moons.csv differs from the script's output; run python data/make_moons.py")


def test_moons_flips_a_tenth_of_each_moon():
    make = script("make_moons")
    clean = make.generate(400, 2020, flip=0.0)
    noisy = make.generate(400, 2020)
    # The same draws up to the flip (the flip's choice comes after the noise), so the points
    # line up after sorting by position.
    assert sorted(r[:2] for r in clean) == sorted(r[:2] for r in noisy)
    labels = {r[:2]: r[2] for r in clean}
    changed = [labels[r[:2]] for r in noisy if labels[r[:2]] != r[2]]
    assert changed.count("upper") == changed.count("lower") == 20
    with pytest.raises(ValueError, match="even"):
        make.generate(401, 1)


def test_breast_cancer_is_scikit_learns_table(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn is in .[test]")
    from sklearn.datasets import load_breast_cancer

    out = tmp_path / "breast_cancer.csv"
    assert script("make_breast_cancer").main(["--out", str(out)]) == 0
    assert out.read_bytes() == (DATA / "breast_cancer.csv").read_bytes(), (
        "data/breast_cancer.csv differs from the script's output; run "
        "python data/make_breast_cancer.py")
    sk = load_breast_cancer()
    header = (DATA / "breast_cancer.csv").read_text().splitlines()[0].split(",")
    assert header == [f.replace(" ", "_") for f in sk.feature_names] + ["diagnosis"]
    X = np.loadtxt(DATA / "breast_cancer.csv", delimiter=",", skiprows=1, usecols=range(30))
    np.testing.assert_array_equal(X, sk.data)  # every value, to the last bit
