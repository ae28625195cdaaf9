"""Split one huge seed range into a multirun's jobs: prints the `seed=` override.

    python -m runner.split 1..1000000 --jobs 4
    seed=1..250000,250001..500000,500001..750000,750001..1000000

    python -m runner -m hydra/launcher=joblib_small "$(python -m runner.split 1..1000000 --jobs 4)"

Each job evaluates one inclusive range; the sweep report pools jobs that differ only in
their seeds into one seed population, so the split changes nothing but who computes what.
A seed's weights never depend on the other seeds of its job.
"""

from __future__ import annotations

import re
import sys

from runner.args import Parser
from runner.errors import UserError, error_line
from runner.limits import MAX_SEEDS_PER_JOB, MAX_SPLIT_JOBS
from runner.seeds import range_ends

RANGE = "an inclusive range of non-negative seeds, like 1..1000000"
RANGE_HINT = f"give {RANGE}"
NEGATIVE_RANGE = re.compile(r"-\d")  # argparse would read -5..10 as an unknown option


def split(spec: str, jobs: int | None = None, per_job: int | None = None) -> list[tuple[int, int]]:
    """The inclusive ranges, in order, that cover the range `spec` ("a..b") in `jobs` near-equal
    parts, or in parts of `per_job` seeds (the last one shorter)."""
    text = spec.strip()
    a, b = range_ends(text, text, RANGE_HINT, give=RANGE)
    n = b - a + 1
    if (jobs is None) == (per_job is None):
        raise UserError("give --jobs N or --per-job K")
    if per_job is not None:
        if per_job < 1:
            raise UserError(f"--per-job {per_job}: give at least 1")
        if per_job > MAX_SEEDS_PER_JOB:
            raise UserError(
                f"--per-job {per_job:,}: a job holds at most {MAX_SEEDS_PER_JOB:,} seeds; give "
                f"--per-job {MAX_SEEDS_PER_JOB} or fewer, or --jobs {-(-n // MAX_SEEDS_PER_JOB)}")
        if -(-n // per_job) > MAX_SPLIT_JOBS:
            raise UserError(f"--per-job {per_job:,}: {-(-n // per_job):,} jobs, more than "
                            f"{MAX_SPLIT_JOBS:,}; give more seeds per job")
        return [(s, min(s + per_job - 1, b)) for s in range(a, b + 1, per_job)]
    if jobs < 1 or jobs > min(n, MAX_SPLIT_JOBS):
        raise UserError(f"--jobs {jobs}: give 1 to {min(n, MAX_SPLIT_JOBS):,} jobs for the {n:,} "
                        f"seeds of {text}")
    base, extra = divmod(n, jobs)
    if base + (extra > 0) > MAX_SEEDS_PER_JOB:
        need = -(-n // MAX_SEEDS_PER_JOB)
        raise UserError(f"--jobs {jobs}: {base + (extra > 0):,} seeds per job, more than "
                        f"{MAX_SEEDS_PER_JOB:,}; give --jobs {need} or more")
    out, start = [], a
    for i in range(jobs):
        size = base + (i < extra)
        out.append((start, start + size - 1))
        start += size
    return out


def override(ranges) -> str:
    return "seed=" + ",".join(f"{lo}..{hi}" for lo, hi in ranges)


def main(argv=None) -> int:
    p = Parser(
        prog="python -m runner.split", usage="%(prog)s RANGE (--jobs N | --per-job K)",
        description="Print the seed= override that splits one inclusive seed range across "
                    "the jobs of a Hydra multirun (python -m runner -m ...).",
        examples={"range": "the whole range, e.g. 1..1000000", "--jobs": "--jobs 4",
                  "--per-job": "--per-job 250000"})
    p.add_argument("range", nargs="?", help="the whole range, inclusive, e.g. 1..1000000")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--jobs", type=int, help="how many jobs, of near-equal size")
    g.add_argument("--per-job", type=int, help="how many seeds per job (the last has the rest)")
    try:
        args, rest = p.parse_known_args(argv)
        # A negative range goes to `rest` (argparse reads it as an option): the range check
        # then says what is wrong with it.
        if args.range is None and rest and NEGATIVE_RANGE.match(rest[0]):
            args.range = rest.pop(0)
        if rest:
            p.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.range is None:
            p.error("the following arguments are required: range")
        print(override(split(args.range, args.jobs, args.per_job)))
    except UserError as e:
        print(error_line(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
