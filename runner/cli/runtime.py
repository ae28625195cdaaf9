"""What only Hydra finds, once it runs: a launcher it cannot load, a run folder it cannot
make, a Ray cluster that is not there. Everything else a command line can get wrong is found
before Hydra composes (runner.cli.check); should Hydra still refuse something, its first line
is shown, never its many.
"""

from __future__ import annotations

from runner.cli.options import split
from runner.cli.overrides import ENGINES_EXTRA, LAUNCHER_PACKAGES, unknown_choice


def explain(exc: BaseException, args: list[str]) -> str | None:
    """One line for a bad-input exception raised by Hydra or OmegaConf, else None."""
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(exc, MissingConfigException) and "/" in (exc.missing_cfg_file or ""):
        return _missing_config(exc, args)
    if isinstance(exc, OSError) and exc.filename and _made_by_hydra(exc):
        # Hydra makes the run (or sweep) folder before the job starts.
        key = "hydra.sweep.dir" if split(args).multirun else "hydra.run.dir"
        why = "a file of that name is there" if isinstance(exc, FileExistsError) else (
            exc.strerror or type(exc).__name__)
        return (f"{key}: cannot make the run folder {exc.filename} ({why}); give a "
                f"folder that can be created, e.g. {key}=outputs/mine")
    if isinstance(exc, ConnectionError) and "running Ray instance" in str(exc):
        return ("hydra/launcher=ray_attach: no Ray cluster is running on this machine (or at "
                "$RAY_ADDRESS); start one with ray start --head, or give "
                "hydra.launcher.ray.init.address=HOST:6379")
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        cause = exc.__cause__
        detail = f" ({_first_line(str(cause))})" if cause is not None else ""
        return _first_line(str(exc)) + detail
    return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "bad input"


def _made_by_hydra(exc: BaseException) -> bool:
    """Whether Hydra was making a folder (the run or sweep folder) when `exc` was raised."""
    tb, frames = exc.__traceback__, []
    while tb is not None:
        frames.append((tb.tb_frame.f_globals.get("__name__", ""), tb.tb_frame.f_code.co_name))
        tb = tb.tb_next
    return any(m.startswith("hydra.") for m, _ in frames) and frames[-1][1] == "mkdir"


def _missing_config(exc, args: list[str]) -> str:
    """A choice of one of Hydra's own groups (a launcher, a sweeper) that is not installed."""
    group, _, option = exc.missing_cfg_file.rpartition("/")
    given = f"{group}={option}"
    for a in split(args).overrides:
        key, _, value = a.partition("=")
        if key.lstrip("+~") == group and option in [v.strip() for v in value.split(",")]:
            given = f"{key}={option}"
    if group == "hydra/launcher" and option in LAUNCHER_PACKAGES:
        return f"{given}: needs {LAUNCHER_PACKAGES[option]}; install it ({ENGINES_EXTRA})"
    return unknown_choice(given, group, option, list(exc.options or []))
