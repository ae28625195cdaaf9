"""The `seed` override: an int, an inclusive range `a..b`, or a list `[1,5,9]`."""

from __future__ import annotations

import re

import numpy as np

from runner.errors import UserError
from runner.limits import MAX_SEED, MAX_SEEDS_PER_JOB

FORMS = "an int (seed=7), an inclusive range (seed=1..50) or a list (seed=[1,5,9])"
_INT = re.compile(r"[+-]?(\d+|\d+(\.\d*)?[eE]\+?\d+)", re.ASCII)


def _whole(value, spec, where: str | None = None, give: str = FORMS) -> int:
    """A non-negative whole number from an int, a whole float or a string like 7 or 1e6.

    Errors start with `where` (default `seed=<spec>`) and end with `give <give>`.
    """
    where = where or f"seed={spec!s}"
    if isinstance(value, bool):
        raise UserError(f"{where}: {value!r} is not a seed; give {give}")
    if isinstance(value, str):
        value = value.strip()
        if not _INT.fullmatch(value):
            raise UserError(f"{where}: {value.strip()!r} is not a whole number; give {give}")
        value = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise UserError(f"{where}: {value!r} is not a whole number; give {give}")
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise UserError(f"{where}: {value!r} is not a whole number; give {give}")
    if value < 0:
        raise UserError(f"{where}: seeds are non-negative, got {value}; give {give}")
    if value > MAX_SEED:
        raise UserError(f"{where}: {value} is past the largest seed, {MAX_SEED}; give {give}")
    return int(value)


def _check_count(n, spec):
    if n > MAX_SEEDS_PER_JOB:
        jobs = -(-n // MAX_SEEDS_PER_JOB)
        text = str(spec)
        how = (f"python -m runner -m \"$(python -m runner.split {text} --jobs {jobs})\""
               if ".." in text and "[" not in text else
               "python -m runner -m 'seed=A..B,C..D' (python -m runner.split prints those "
               "for a range)")
        raise UserError(
            f"seed={spec}: {n:,} seeds, more than {MAX_SEEDS_PER_JOB:,} in one job; split them "
            f"across jobs: {how}"
        )


def range_ends(text: str, where: str, hint: str, give: str = FORMS) -> tuple[int, int]:
    """The two ends of the inclusive range `text` ("a..b"), checked.

    Errors start with `where`; `hint` says what to write when an end (or the "..") is missing,
    `give` what to write instead of an end that is not a seed.
    """
    lo, sep, hi = text.partition("..")
    if not sep or not lo.strip() or not hi.strip():
        raise UserError(f"{where}: {hint}")
    a, b = _whole(lo, text, where, give), _whole(hi, text, where, give)
    if b < a:
        raise UserError(f"{where}: the range is reversed; write {b}..{a}")
    return a, b


def parse_seeds(spec, key: str = "seed") -> np.ndarray:
    """The seeds `spec` names, in order, as an int64 array; UserError if malformed.

    `key`: the setting it came from (seed, order_seed, split.seed), named in the errors.
    A list with a seed twice is refused rather than de-duplicated: the user meant
    something else, and a silent fix would hide it.
    """
    forms = FORMS if key == "seed" else FORMS.replace("seed=", f"{key}=")
    if isinstance(spec, (list, tuple)) or type(spec).__name__ == "ListConfig":
        items = list(spec)
        text = "[" + ",".join(str(v) for v in items) + "]"
        if not items:
            raise UserError(f"{key}={text}: the list is empty; give {forms}")
        seeds = [_whole(v, text, f"{key}={text}", forms) for v in items]
        _check_count(len(seeds), text)
        arr = np.asarray(seeds, dtype=np.int64)
        uniq, counts = np.unique(arr, return_counts=True)
        if (counts > 1).any():
            dup = ", ".join(str(s) for s in uniq[counts > 1][:5])
            raise UserError(f"{key}={text}: seed {dup} appears more than once; list each seed "
                            "once")
        return arr
    if isinstance(spec, str) and ".." in spec:
        text = spec.strip()
        a, b = range_ends(text, f"{key}={text}",
                          f"a range needs both ends, like 1..50; give {forms}", forms)
        _check_count(b - a + 1, text)
        return np.arange(a, b + 1, dtype=np.int64)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise UserError(f"{key} is empty; give {forms}")
    return np.asarray([_whole(spec, spec, f"{key}={spec}", forms)], dtype=np.int64)


def describe(seeds: np.ndarray) -> str:
    """A short label: '7', '1..50' or '[3, 7, 9]'."""
    if len(seeds) == 1:
        return str(int(seeds[0]))
    if np.array_equal(seeds, np.arange(seeds[0], seeds[0] + len(seeds))):
        return f"{int(seeds[0])}..{int(seeds[-1])}"
    if len(seeds) <= 8:
        return "[" + ",".join(str(int(s)) for s in seeds) + "]"
    return f"[{int(seeds[0])},…,{int(seeds[-1])}] ({len(seeds)} seeds)"
