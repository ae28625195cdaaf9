"""Load a binary-labelled CSV into X, y, with a clear error for every way it can be wrong."""

from __future__ import annotations

import codecs
import csv
import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neuron.scaling import standardize
from runner import limits
from runner.errors import UserError, shown

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    features: list[str]
    target: str
    positive: str
    negative: str  # the other label, as declared or as found in the file
    frame: pd.DataFrame  # the file's rows as read, for predictions tables
    X: np.ndarray  # (n_rows, n_features), standardized when asked
    y: np.ndarray  # (n_rows,) 1 for the positive label
    mean: np.ndarray | None = None  # the standardization applied, if any
    std: np.ndarray | None = None
    raw: np.ndarray | None = None  # X before it, when standardized (a split z-scores its own)


def resolve_path(path: str) -> Path:
    """`path` as given if it exists, else relative to the project (where data/ lives)."""
    p = Path(path).expanduser()
    if p.exists():
        return p.resolve()
    if p.is_absolute():
        raise UserError(f"dataset.path={path}: no such file; give an existing CSV path")
    q = PROJECT_ROOT / p
    if q.exists():
        return q
    looked = str(Path.cwd()) if Path.cwd().resolve() == PROJECT_ROOT else (
        f"{Path.cwd()} and {PROJECT_ROOT}")
    raise UserError(f"dataset.path={path}: no such file (looked in {looked}); give an existing "
                    "CSV path")


def columns_hint(path: str) -> str:
    """What a person needs to fill in dataset.features/target: the file's columns, if it can
    be read, else why not."""
    try:
        with open(resolve_path(path), newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
    except (UserError, OSError, UnicodeDecodeError, csv.Error) as e:
        return f"cannot read the columns of dataset.path={path}: {e}"
    if not header:
        return f"dataset.path={path} has no header row"
    return f"the file has columns {', '.join(repr(c) for c in header)}"


def load(cfg) -> Dataset:
    """Read `cfg.path` (a DatasetConfig) and check it before any neuron sees it."""
    _check_columns(cfg)
    path = resolve_path(cfg.path)
    where = f"dataset.path={cfg.path}"
    if path.is_dir():
        raise UserError(f"{where}: is a folder, not a CSV file")
    if not path.is_file():
        raise UserError(f"{where}: is not a regular file (a pipe or a device); give a CSV file")
    if path.stat().st_size == 0:
        raise UserError(f"{where}: the file is empty; it needs a header and data rows")
    with open(path, "rb") as fh:
        head = fh.read(65536)
    try:
        if b"\0" in head:
            raise UnicodeDecodeError("utf-8", head, 0, 1, "NUL byte")
        # Incremental, so a character cut at the end of the sample is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        header = _header(path)
        # Only an empty cell is missing: a class may well be called NA, None or null.
        frame = pd.read_csv(path, skipinitialspace=True, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        raise UserError(
            f"{where}: not a text CSV file (binary or not UTF-8); give a comma-separated "
            "text file with a header row"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise UserError(f"{where}: not a readable CSV ({str(e).strip().splitlines()[0]})") from None
    features = feature_columns(cfg, header)
    if not features:
        raise UserError(f"dataset.features is empty; name the feature columns of {path.name}")
    # The file's own header, not pandas' frame: pandas renames a repeated name 'a' to 'a.1'.
    missing = [c for c in features + [cfg.target] if c not in header]
    if missing:
        seps = [c for c in ";\t|" if len(header) == 1 and c in header[0]]
        fix = (f"the file is separated by {seps[0]!r}, not commas: save it as comma-separated"
               if seps else "set dataset.features / dataset.target")
        raise UserError(
            f"{where}: no column {', '.join(repr(m) for m in missing)}; the file has "
            f"{', '.join(repr(c) for c in header)} ({fix})"
        )
    for c in features + [cfg.target]:
        at = [i + 1 for i, h in enumerate(header) if h == c]
        if len(at) > 1:
            raise UserError(
                f"{where}: the header names column {c!r} {len(at)} times (columns "
                f"{', '.join(map(str, at))}); rename them so each name is one column"
            )
    if not frame.index.equals(pd.RangeIndex(len(frame))) or len(header) != len(frame.columns):
        # pandas takes a first column the header does not name as the index, silently
        # shifting every column by one.
        raise UserError(f"{where}: the rows have more cells than the header has names (a "
                        "trailing comma?); give every column a name")
    frame.columns = header
    # Repeated names that no setting uses are ambiguous and unused: leave them out.
    frame = frame.loc[:, ~frame.columns.duplicated(keep=False)]
    if len(frame) == 0:
        raise UserError(f"{where}: header only, no data rows")
    X = _features(frame, features, where, listed=cfg.features is not None)
    negative = None if cfg.negative is None else str(cfg.negative)
    y = _labels(frame, cfg.target, str(cfg.positive), negative, where)
    mean = std = raw = None
    if cfg.standardize:
        # Column-major, as pandas hands out a frame's columns: a split's features, z-scored
        # from these, have been multiplied in that layout (matmul's bits follow it).
        raw = np.asfortranarray(X)
        X, mean, std = standardize(X)
    return Dataset(
        name=cfg.name, path=path, features=features, target=cfg.target,
        positive=str(cfg.positive), negative=negative or _other(frame[cfg.target], cfg.positive),
        frame=frame, X=X, y=y, mean=mean, std=std, raw=raw,
    )


def feature_columns(cfg, header: list[str]) -> list[str]:
    """The feature columns: those listed in dataset.features, in that order, or when it is
    null every column of the header but the target (a wide file needs no list of thousands)."""
    if cfg.features is not None:
        return list(cfg.features)
    return [c for c in header if c != cfg.target]


def check_list_override(override: str) -> None:
    """Refuse a command-line override that lists more values than Hydra's override parser
    reads in reasonable time: its time grows with the square of the list (about 1.5 s for
    3,200 values, minutes for tens of thousands, and Hydra parses an override several times),
    so `dataset.features=[...]` of a wide CSV looked like a hang. runner.cli calls it on each
    override before Hydra sees it."""
    n = override.count(",") + 1
    if n <= limits.MAX_LISTED_VALUES or "[" not in override:
        return
    key = override.split("=", 1)[0]
    fix = {"dataset.features": "leave dataset.features out to use every column but the "
                               "target (dataset.target)",
           "seed": "write a range, e.g. seed=1..5000"}.get(key.lstrip("+~"), "give fewer")
    raise UserError(
        f"{key}=[…]: {n:,} values; Hydra's parser takes time that grows with the square of a "
        f"list (minutes for thousands), so at most {limits.MAX_LISTED_VALUES:,} are read "
        f"from the command line; {fix}")


def _header(path: Path) -> list[str]:
    """The header row as written (pandas' frame renames repeated names)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh, skipinitialspace=True), [])


def _check_columns(cfg) -> None:
    """What is wrong with the columns asked for, whatever the file holds."""
    if cfg.features is None:
        return
    seen = set()
    for f in cfg.features:
        if f in seen:
            unique = ",".join(dict.fromkeys(cfg.features))
            raise UserError(f"dataset.features=[{','.join(cfg.features)}]: {f!r} is listed "
                            f"twice (one weight per column); list it once: "
                            f"dataset.features=[{unique}]")
        seen.add(f)
    if cfg.target in cfg.features:
        rest = [f for f in cfg.features if f != cfg.target]
        fix = (f"drop it: dataset.features=[{','.join(rest)}]" if rest
               else "name other feature columns")
        raise UserError(
            f"dataset.target={cfg.target}: also listed in dataset.features, so the neuron "
            f"would see the label it is to predict; {fix}"
        )


def _features(frame, features, where, listed=True) -> np.ndarray:
    cols = []
    for c in features:
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raw = frame[c].iloc[i]
            what = "missing" if pd.isna(raw) else f"'{shown(raw)}' is not a finite number"
            # Row numbers as a person sees them in an editor: the header is line 1.
            fix = "fix or remove that row"
            if not listed:
                fix += (" (dataset.features is unset, so every column but the target is a "
                        "feature: list the feature columns to leave this one out)")
            raise UserError(f"{where}: column {c!r}, line {i + 2}: {what}; {fix}")
        cols.append(values.to_numpy(float))
    return np.column_stack(cols)


def _labels(frame, target, positive, negative, where) -> np.ndarray:
    labels = frame[target]
    if labels.isna().any():
        i = int(np.flatnonzero(labels.isna().to_numpy())[0])
        raise UserError(f"{where}: column {target!r}, line {i + 2}: missing label")
    labels = labels.astype(str).str.strip()
    classes = sorted(labels.unique())
    if positive not in classes:
        same = [c for c in classes if c.casefold() == positive.casefold()]
        close = same or difflib.get_close_matches(positive, classes, n=1)
        fix = (f"did you mean dataset.positive={close[0]}?" if close
               else "set dataset.positive to one of them")
        raise UserError(
            f"dataset.positive={positive}: not a value of column {target!r} "
            f"(it has {', '.join(repr(c) for c in classes[:6])}); {fix}"
        )
    if negative is not None:
        # Both labels declared: a file may hold only one of them (the lesson's single row).
        extra = [c for c in classes if c not in (positive, negative)]
        if extra:
            raise UserError(
                f"dataset.negative={negative}: column {target!r} also has "
                f"{', '.join(repr(c) for c in extra[:3])}, neither dataset.positive nor "
                f"dataset.negative; set dataset.negative to the other label, or drop it to "
                "read every label but the positive one as negative"
            )
        return (labels == positive).to_numpy().astype(np.int8)
    if len(classes) > 2:
        shown = ", ".join(repr(c) for c in classes[:6])
        raise UserError(
            f"{where}: column {target!r} has {len(classes)} classes ({shown}); "
            "the neuron needs a binary target"
        )
    if len(classes) == 1:
        raise UserError(
            f"{where}: column {target!r} has one class only ({classes[0]!r}); "
            "give data with both classes, or name the other label in dataset.negative"
        )
    return (labels == positive).to_numpy().astype(np.int8)


def _other(labels, positive) -> str:
    others = [v for v in labels.astype(str).str.strip().unique() if v != str(positive)]
    return others[0]
