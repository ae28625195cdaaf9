"""The command line checked before Hydra composes: Hydra's options (`options`, light enough
to read before Hydra is imported) and the overrides (`overrides`, parsed with Hydra's public
override parser and checked against the schemas and conf/). What only Hydra can find at run
time (a launcher's plugin, the run folder) is worded by `runtime`.
"""

from __future__ import annotations

import dataclasses
import sys

from runner.cli import options


def check(args: list[str]) -> str | None:
    """What Hydra would refuse in many lines or take without a word: one line, or None."""
    from runner.cli import overrides
    from runner.config import Config

    refused = options.check(args, {f.name for f in dataclasses.fields(Config)})
    if refused is not None:
        return refused
    line = options.split(args)
    return overrides.check(list(line.overrides), line.multirun)


def launcher_note(args: list[str]) -> str | None:
    """A launcher or sweeper chosen for a single job, which Hydra ignores without a word (the
    job runs here, not on the cluster the user named): a note, or None."""
    line = options.split(args)
    if line.multirun:
        return None
    for a in line.overrides:
        key = a.lstrip("+~").split("=", 1)[0]
        if key.startswith(("hydra/launcher", "hydra.launcher.", "hydra/sweeper",
                           "hydra.sweeper.")):
            return (f"{a} takes effect in a multirun only; without -m this job runs here, in "
                    f"this process (python -m runner -m … {a} to launch)")
    return None


def version() -> str:
    """`python -m runner --version`: ours, and the versions a result may depend on."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as of

    def known(name: str) -> str:
        try:
            return of(name)
        except PackageNotFoundError:
            return "not installed"

    return (f"neuron-luck {known('neuron-luck')} (Hydra {known('hydra-core')}, "
            f"MLflow {known('mlflow')}, numpy {known('numpy')}, Python {sys.version.split()[0]})")
