"""runner.data.load: every way a CSV can be wrong is refused with one clear message, in-process.

(tests/test_bad_input.py checks a few of these once more through the command line.)
"""

import pytest

from runner.config import DatasetConfig
from runner.data import columns_hint, load
from runner.errors import UserError

CSV_OK = "a,b,label\n1,2,yes\n3,4,no\n5,6,yes\n"


def cfg(path, **kw):
    values = dict(name="t", path=str(path), features=["a", "b"], target="label",
                  positive="yes")
    values.update(kw)
    return DatasetConfig(**values)


@pytest.mark.parametrize("text, overrides, message", [
    ("", {}, "the file is empty; it needs a header and data rows"),
    ("a,b,label\n", {}, "header only, no data rows"),
    ("a,b,label\n1,2,yes\n3,x,no\n", {}, "column 'b', line 3: 'x' is not a finite number"),
    ("a,b,label\n1,2,yes\n3,,no\n", {}, "column 'b', line 3: missing"),
    ("a,b,label\n1,2,yes\n3,inf,no\n", {}, "column 'b', line 3: 'inf' is not a finite number"),
    ("a,b,label\n1,2,yes\n3,nan,no\n", {}, "column 'b', line 3: 'nan' is not a finite"),
    ("a,b,label\n1,2,yes\n3,NA,no\n", {}, "column 'b', line 3: 'NA' is not a finite"),
    ("a,b,label\n1,2,yes\n3,4,yes\n", {}, "has one class only ('yes')"),
    ("a,b,label\n1,2,yes\n3,4,no\n5,6,maybe\n", {}, "has 3 classes ('maybe', 'no', 'yes')"),
    ("a,b,label\n1,2,yes\n3,4,\n", {}, "column 'label', line 3: missing label"),
    (CSV_OK, {"features": ["a", "c"]}, "no column 'c'; the file has 'a', 'b', 'label'"),
    (CSV_OK, {"target": "y"}, "no column 'y'"),
    (CSV_OK, {"features": []}, "dataset.features is empty"),
    (CSV_OK, {"positive": "maybe"}, "dataset.positive=maybe: not a value of column 'label'"),
    (CSV_OK, {"negative": "nope"}, "dataset.negative=nope: column 'label' also has 'no', "
     "neither dataset.positive nor dataset.negative; set dataset.negative to the other label"),
    (CSV_OK, {"positive": "YES"}, "(it has 'no', 'yes'); did you mean dataset.positive=yes?"),
    ("a;b;label\n1;2;yes\n3;4;no\n", {}, "the file has 'a;b;label' (the file is separated "
     "by ';', not commas: save it as comma-separated)"),
    ('a,b,label\n1,2,"yes\n', {}, "not a readable CSV"),
    # Issue 15, item 2: the file's own header names, never pandas' invented 'a.1'.
    ("a,a,label\n1,2,yes\n3,4,no\n", {"features": ["a"]},
     "the header names column 'a' 2 times (columns 1, 2); rename them"),
    ("a,a,label\n1,2,yes\n3,4,no\n", {"features": ["a", "a.1"]},
     "no column 'a.1'; the file has 'a', 'a', 'label'"),
    ("a,b,label\n1,2,yes,\n3,4,no,\n", {},
     "the rows have more cells than the header has names (a trailing comma?)"),
    (CSV_OK, {"features": ["a", "b", "a"]},
     "dataset.features=[a,b,a]: 'a' is listed twice (one weight per column); list it once: "
     "dataset.features=[a,b]"),
    (CSV_OK, {"features": ["a", "label"]},
     "dataset.target=label: also listed in dataset.features, so the neuron would see the "
     "label it is to predict; drop it: dataset.features=[a]"),
])
def test_refusals(tmp_path, text, overrides, message):
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load(cfg(path, **overrides))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_binary_and_missing_files(tmp_path):
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UserError, match="not a text CSV file"):
        load(cfg(tmp_path / "bin.csv"))
    with pytest.raises(UserError, match="no such file"):
        load(cfg(tmp_path / "nowhere.csv"))
    with pytest.raises(UserError, match="is a folder, not a CSV file"):
        load(cfg(tmp_path))


def test_a_good_file(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(CSV_OK)
    ds = load(cfg(path))
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [1, 0, 1]
    assert ds.negative == "no" and ds.mean is None
    z = load(cfg(path, standardize=True))
    assert abs(z.X.mean(axis=0)).max() < 1e-12 and z.mean.tolist() == [3, 4]


def test_classes_named_like_missing_values_are_classes(tmp_path):
    # Issue 15, item 2: pandas reads NA, N/A, null, None as missing by default.
    path = tmp_path / "f.csv"
    path.write_text("a,b,label\n1,2,NA\n3,4,yes\n5,6,NA\n")
    ds = load(cfg(path))
    assert ds.y.tolist() == [0, 1, 0] and ds.negative == "NA"
    ds = load(cfg(path, positive="NA"))
    assert ds.y.tolist() == [1, 0, 1] and ds.negative == "yes"


def test_an_unused_repeated_column_is_left_out(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b,x,x,label\n1,2,7,8,yes\n3,4,7,8,no\n")
    ds = load(cfg(path))
    assert ds.X.tolist() == [[1, 2], [3, 4]]
    assert list(ds.frame.columns) == ["a", "b", "label"]


def test_columns_hint(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(CSV_OK)
    assert columns_hint(str(path)) == "the file has columns 'a', 'b', 'label'"
    assert "cannot read the columns" in columns_hint(str(tmp_path / "missing.csv"))


def test_features_unset_are_every_column_but_the_target(tmp_path):
    # Issue 22, item 9: a wide CSV needed its thousands of columns listed on the command line.
    path = tmp_path / "wide.csv"
    names = [f"f{i}" for i in range(3000)]
    rows = [",".join(names[:1500] + ["label"] + names[1500:])]
    rows += [",".join(["1"] * 1500 + [label] + ["2"] * 1500) for label in ("yes", "no")]
    path.write_text("\n".join(rows) + "\n")
    ds = load(cfg(path, features=None))
    assert ds.features == names and ds.X.shape == (2, 3000)
    assert ds.X[0, 0] == 1 and ds.X[0, -1] == 2 and ds.y.tolist() == [1, 0]
    # A column that is no number is named, with how to leave it out.
    path.write_text("id,a,label\nx1,1,yes\nx2,2,no\n")
    with pytest.raises(UserError) as e:
        load(cfg(path, features=None))
    assert str(e.value) == (
        f"dataset.path={path}: column 'id', line 2: 'x1' is not a finite number; fix or remove "
        "that row (dataset.features is unset, so every column but the target is a feature: "
        "list the feature columns to leave this one out)")


def test_a_list_too_long_for_hydras_parser_is_refused_at_once():
    # Issue 22, item 9: dataset.features=[...] of thousands of columns seemed to hang (Hydra's
    # override parser takes time that grows with the square of the list).
    import time

    from runner import limits
    from runner.data import check_list_override

    ok = "dataset.features=[" + ",".join(f"c{i}" for i in range(limits.MAX_LISTED_VALUES)) + "]"
    check_list_override(ok)
    check_list_override("dataset.highlight_label='" + "a," * 5000 + "'")  # no list: as it is
    long = "dataset.features=[" + ",".join(f"c{i}" for i in range(20_000)) + "]"
    start = time.perf_counter()
    with pytest.raises(UserError) as e:
        check_list_override(long)
    assert time.perf_counter() - start < 0.1
    assert str(e.value) == (
        "dataset.features=[…]: 20,000 values; Hydra's parser takes time that grows with the "
        "square of a list (minutes for thousands), so at most 1,000 are read from the command "
        "line; leave dataset.features out to use every column but the target (dataset.target)")
    with pytest.raises(UserError, match=r"^seed=\[…\]: 5,000 values; .*write a range, e\.g\."):
        check_list_override("seed=[" + ",".join(map(str, range(5000))) + "]")
