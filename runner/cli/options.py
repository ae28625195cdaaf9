"""Hydra's command-line options, and a command line split into options and overrides.

Light on purpose: `python -m runner` reads its arguments with this before Hydra is imported
(runner.speedups.worker decides from them whether to fork the MLflow worker).
tests/test_cli.py checks the table against Hydra's own argument parser, so a Hydra release
that adds, drops or renames an option fails a test instead of being misread here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]
    takes_value: bool = False  # the next argument (or =value) is its value
    choices: tuple[str, ...] = ()
    optional_value: str | None = None  # --info: a value only if it is one of the choices
    runs_jobs: bool = True  # False: Hydra answers and exits without running a job


OPTIONS = (
    Option(("--help", "-h"), runs_jobs=False),
    Option(("--hydra-help",), runs_jobs=False),
    Option(("--version",), runs_jobs=False),
    Option(("--cfg", "-c"), takes_value=True, choices=("job", "hydra", "all"), runs_jobs=False),
    Option(("--resolve",), runs_jobs=False),
    Option(("--package", "-p"), takes_value=True, runs_jobs=False),
    Option(("--run", "-r")),
    Option(("--multirun", "-m")),
    Option(("--shell-completion", "-sc"), runs_jobs=False),
    Option(("--config-path", "-cp"), takes_value=True),
    Option(("--config-name", "-cn"), takes_value=True),
    Option(("--config-dir", "-cd"), takes_value=True),
    Option(("--experimental-rerun",), takes_value=True),
    Option(("--info", "-i"), choices=INFO_CHOICES, optional_value="all", runs_jobs=False),
)
BY_NAME = {name: o for o in OPTIONS for name in o.names}
MULTIRUN = BY_NAME["--multirun"]


@dataclass(frozen=True)
class Given:
    """One option as typed: its name, its value if any, and the arguments it took."""

    option: Option | None  # None: not one of Hydra's options
    name: str
    value: str | None
    typed: tuple[str, ...]
    inline: bool  # --cfg=job rather than --cfg job


@dataclass(frozen=True)
class CommandLine:
    options: tuple[Given, ...]
    overrides: tuple[str, ...]
    option_after_override: Given | None  # Hydra reads options only before the settings

    @property
    def multirun(self) -> bool:
        return any(g.option is MULTIRUN for g in self.options) or any(
            o.replace(" ", "") == "hydra.mode=MULTIRUN" for o in self.overrides)

    @property
    def runs_jobs(self) -> bool:
        return all(g.option is None or g.option.runs_jobs for g in self.options)


def is_option(arg: str) -> bool:
    return arg.startswith("-") and not arg.startswith("~")


def split(args: list[str]) -> CommandLine:
    """`args` as Hydra's argparse reads them; an unknown option takes no value."""
    options, overrides, late, i = [], [], None, 0
    while i < len(args):
        a = args[i]
        if not is_option(a):
            overrides.append(a)
            i += 1
            continue
        name, eq, inline = a.partition("=")
        option = BY_NAME.get(name)
        nxt = args[i + 1] if i + 1 < len(args) else None
        if eq:
            given = Given(option, name, inline, (a,), True)
        elif option is not None and option.takes_value and nxt is not None:
            given = Given(option, name, nxt, (a, nxt), False)
        elif option is not None and option.optional_value and nxt is not None \
                and not is_option(nxt):
            given = Given(option, name, nxt, (a, nxt), False)  # argparse's nargs="?"
        else:
            given = Given(option, name, None, (a,), False)
        if overrides and late is None:
            late = given
        options.append(given)
        i += len(given.typed)
    return CommandLine(tuple(options), tuple(overrides), late)


def check(args: list[str], settings: set[str]) -> str | None:
    """An option Hydra does not have (--seed 5, where `settings` names seed), a choice it
    does not offer, or an option after the settings: one line, or None."""
    line = split(args)
    for g in line.options:
        a = g.typed[0]
        if g.option is None:
            i = args.index(a)
            value = g.value if g.inline else (
                args[i + 1] if i + 1 < len(args) and "=" not in args[i + 1] else "…")
            key = g.name.lstrip("-").replace("-", "_")
            if key.split(".")[0] in settings:
                return (f"{a}: not an option; a setting is key=value, e.g. "
                        f"{key}={value} (python -m runner --help lists them)")
            close = difflib.get_close_matches(g.name, sorted(BY_NAME), n=1)
            mean = f"did you mean {close[0]}? " if close else ""
            return (f"{a}: not an option; {mean}(python -m runner --help lists the "
                    "settings, --hydra-help Hydra's options)")
        choices, value = g.option.choices, g.value
        if choices and value is not None and value not in choices:
            close = difflib.get_close_matches(value, sorted(choices), n=1)
            fix = (f"; write {g.name} {choices[0]} {value}, since {g.name} would read "
                   f"{value} as its choice" if "=" in value and not g.inline else
                   f"; did you mean {g.name} {close[0]}?" if close else "")
            return (f"{g.name} {value}: not a choice{fix} "
                    f"(choices: {', '.join(sorted(choices))})")
    if line.option_after_override is not None:
        g = line.option_after_override
        first = [a for o in line.options for a in o.typed] + list(line.overrides)
        return (f"{g.typed[0]}: Hydra's options go before the settings; write python -m "
                f"runner {' '.join(first)}")
    return None
