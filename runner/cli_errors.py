"""Hydra's own refusals (an unknown choice, a key typo, a bad value, an override it cannot
parse) as one line that names the override and the fix, like the runner's own refusals.

`python -m runner` lets Hydra raise (HYDRA_FULL_ERROR=1 for Hydra) and hands the exception
here; `explain` returns None for anything that is not bad input, which is then raised as is.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
from pathlib import Path

from runner.config import override_key

CONF = Path(__file__).resolve().parent.parent / "conf"

# Launcher presets and the pip package that provides each (README: "Outgrow one machine").
LAUNCHER_PACKAGES = {
    "joblib": "hydra-joblib-launcher", "joblib_small": "hydra-joblib-launcher",
    "submitit_local": "hydra-submitit-launcher", "submitit_slurm": "hydra-submitit-launcher",
    "ray": "hydra-ray-launcher", "ray_attach": "hydra-ray-launcher",
    "ray_aws": "hydra-ray-launcher",
}
ENGINES_EXTRA = "pip install -e '.[engines]'"


# Hydra's command-line options (hydra/_internal/utils.py get_args_parser), and those that
# take a value.
HYDRA_FLAGS = {"--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--resolve",
               "--package", "-p", "--run", "-r", "--multirun", "-m", "--shell-completion", "-sc",
               "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
               "--experimental-rerun", "--info", "-i"}
TAKES_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--experimental-rerun"}
INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
CHOICES = {"--cfg": {"job", "hydra", "all"}, "-c": {"job", "hydra", "all"},
           "--info": INFO_VALUES, "-i": INFO_VALUES}
FIRST = {"--cfg": "job", "-c": "job", "--info": "all", "-i": "all"}  # the one to suggest


def _settings() -> set[str]:
    """The config's top-level keys: what `--seed 5` could have meant as seed=5."""
    from runner.config import Config

    return {f.name for f in dataclasses.fields(Config)}


def launcher_note(args: list[str]) -> str | None:
    """A launcher or sweeper chosen for a single job, which Hydra ignores without a word (the
    job runs here, not on the cluster the user named): a note, or None."""
    if any(a in ("-m", "--multirun") or a.replace(" ", "") == "hydra.mode=MULTIRUN"
           for a in args):
        return None
    for a in args:
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


def check_args(args: list[str]) -> str | None:
    """What Hydra would take without a word or refuse in many lines: an option it does not
    have (--seed 5), a setting without a value (activation sigmoid), a key given twice (Hydra
    keeps the last); one line, or None."""
    seen: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and not a.startswith("~"):
            name, eq, given = a.partition("=")
            if name not in HYDRA_FLAGS:
                value = given if eq else (
                    args[i + 1] if i + 1 < len(args) and "=" not in args[i + 1] else "…")
                key = name.lstrip("-").replace("-", "_")
                if key.split(".")[0] in _settings():
                    return (f"{a}: not an option; a setting is key=value, e.g. "
                            f"{key}={value} (python -m runner --help lists them)")
                close = difflib.get_close_matches(name, sorted(HYDRA_FLAGS), n=1)
                mean = f"did you mean {close[0]}? " if close else ""
                return (f"{a}: not an option; {mean}(python -m runner --help lists the "
                        "settings, --hydra-help Hydra's options)")
            choices = CHOICES.get(name)
            value = given if eq else (args[i + 1] if i + 1 < len(args) else None)
            if choices and value is not None and value not in choices:
                close = difflib.get_close_matches(value, sorted(choices), n=1)
                fix = (f"; write {name} {FIRST[name]} {value}, since {name} would read "
                       f"{value} as its choice" if "=" in value and not eq else
                       f"; did you mean {name} {close[0]}?" if close else "")
                return (f"{name} {value}: not a choice{fix} "
                        f"(choices: {', '.join(sorted(choices))})")
            if seen:  # Hydra reads its options only before the settings
                return (f"{a}: Hydra's options go before the settings; write python -m runner "
                        f"{' '.join(_options_first(args))}")
            if "=" not in a and (name in TAKES_VALUE or (
                    name in ("--info", "-i") and i + 1 < len(args) and args[i + 1] in INFO_VALUES)):
                i += 1
            i += 1
            continue
        if "=" not in a and not a.startswith("~"):
            nxt = args[i + 1] if i + 1 < len(args) else None
            example = f"{a}={nxt}" if nxt is not None and "=" not in nxt else f"{a}=…"
            return f"{a}: a setting is key=value; write {example} (python -m runner --help)"
        key = override_key(a)
        if key in seen:
            several = "several seeds in one job: seed=1..50 or seed=[1,5,9]; " if key == "seed" \
                else ""
            return (f"{seen[key]} {a}: {key} is given twice, and only the last would count; "
                    f"keep one ({several}to compare values, sweep: -m {key}=a,b)")
        seen[key] = a
        i += 1
    return None


def _options_first(args: list[str]) -> list[str]:
    options, settings, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and not a.startswith("~"):
            takes = "=" not in a and (a in TAKES_VALUE or (
                a in ("--info", "-i") and i + 1 < len(args) and args[i + 1] in INFO_VALUES))
            options += args[i:i + 2] if takes else [a]
            i += 2 if takes else 1
        else:
            settings.append(a)
            i += 1
    return options + settings


def explain(exc: BaseException, args: list[str]) -> str | None:
    """One line for a bad-input exception raised by Hydra or OmegaConf, else None."""
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(exc, MissingConfigException):
        return _missing_config(exc, args)
    if isinstance(exc, OverrideParseException):
        first = str(exc.message).strip().splitlines()[0]
        return (f"{exc.override}: not an override Hydra can read ({first}); quote values "
                "with spaces or brackets, e.g. 'dataset.path=\"my file.csv\"'")
    if isinstance(exc, ConfigCompositionException):
        return _composition(exc, args)
    if isinstance(exc, OmegaConfBaseException):
        return _first_line(str(exc))
    if isinstance(exc, ValueError) and _raised_in_hydra(exc):
        m = re.search(r"Config group override must be a string or a list", str(exc))
        if m:
            for a in args:  # a group given a number, true, false or null
                key, _, value = a.lstrip("+~").partition("=")
                if key in _groups() and _not_a_name(value):
                    return _unknown_choice(a, key, value, _options(key))
        return _first_line(str(exc))
    if isinstance(exc, OSError) and exc.filename and _made_by_hydra(exc):
        # Hydra makes the run (or sweep) folder before the job starts.
        key = "hydra.sweep.dir" if {"-m", "--multirun"} & set(args) else "hydra.run.dir"
        why = "a file of that name is there" if isinstance(exc, FileExistsError) else (
            exc.strerror or type(exc).__name__)
        return (f"{key}: cannot make the run folder {exc.filename} ({why}); give a "
                f"folder that can be created, e.g. {key}=outputs/mine")
    if isinstance(exc, ConnectionError) and "running Ray instance" in str(exc):
        return ("hydra/launcher=ray_attach: no Ray cluster is running on this machine (or at "
                "$RAY_ADDRESS); start one with ray start --head, or give "
                "hydra.launcher.ray.init.address=HOST:6379")
    return None


def _not_a_name(value: str) -> bool:
    if value.strip().lower() in ("true", "false", "null", ""):
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "bad input"


def _frames(exc: BaseException) -> list[tuple[str, str]]:
    """(module, function) of each frame `exc` went through, outermost first."""
    tb, frames = exc.__traceback__, []
    while tb is not None:
        frames.append((tb.tb_frame.f_globals.get("__name__", ""), tb.tb_frame.f_code.co_name))
        tb = tb.tb_next
    return frames


def _raised_in_hydra(exc: BaseException) -> bool:
    frames = _frames(exc)
    return bool(frames) and frames[-1][0].startswith("hydra.")


def _made_by_hydra(exc: BaseException) -> bool:
    """Whether Hydra was making a folder (the run or sweep folder) when `exc` was raised."""
    frames = _frames(exc)
    return any(m.startswith("hydra.") for m, _ in frames) and frames[-1][1] == "mkdir"


def _groups() -> list[str]:
    return sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")


def _options(group: str) -> list[str]:
    folder = CONF / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _given(args: list[str], group: str, option: str | None) -> str:
    """The override as the user typed it, else group=option."""
    for a in args:
        key, _, value = a.partition("=")
        if key.lstrip("+~") == group and (option is None or value == option):
            return a
    return f"{group}={option}"


def _missing_config(exc, args: list[str]) -> str:
    path = exc.missing_cfg_file or ""
    group, _, option = path.rpartition("/")
    options = list(exc.options or [])
    text = str(exc)
    inside = re.match(r"In '([^']+)': ", text)
    typed = _typed_choice(args, group, option)
    if typed is not None:
        if group == "hydra/launcher" and option in LAUNCHER_PACKAGES:
            return (f"{typed}: needs {LAUNCHER_PACKAGES[option]}; install it ({ENGINES_EXTRA})")
        return _unknown_choice(typed, group, option, options)
    if inside:
        # A config file names a choice that is not there: a launcher preset whose plugin
        # is not installed, or a broken file of ours.
        parent = inside.group(1)
        pgroup, _, poption = parent.rpartition("/")
        if pgroup == "hydra/launcher" and poption in LAUNCHER_PACKAGES:
            return (f"{_given(args, pgroup, poption)}: needs {LAUNCHER_PACKAGES[poption]}; "
                    f"install it ({ENGINES_EXTRA})")
        return f"{parent}: it names {path}, which is not there; the choices: {', '.join(options)}"
    if not group:
        return f"{path}: no such config; {_first_line(text)}"
    return _unknown_choice(f"{group}={option}", group, option, options)


def _typed_choice(args, group, option) -> str | None:
    """The choice `group=option` as the user typed it (alone, or as one value of a sweep)."""
    for a in args:
        key, _, value = a.partition("=")
        if key.lstrip("+~") == group and option in [v.strip() for v in value.split(",")]:
            return f"{key}={option}"
    return None


def _unknown_choice(given: str, group: str, option: str, options: list[str]) -> str:
    close = difflib.get_close_matches(str(option), options, n=1)
    if close:
        return (f"{given}: no such choice; did you mean {group}={close[0]}? "
                f"(choices: {', '.join(options)})")
    return f"{given}: no such choice; the choices are {', '.join(options)}"


def _composition(exc, args: list[str]) -> str:
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    text = str(exc)
    cause = exc.__cause__
    m = re.match(r"Error merging override (.*)", text)
    if m and isinstance(cause, ValidationError):
        return _bad_value(m.group(1), cause)
    if m and "Cannot merge DictConfig with ListConfig" in str(cause):
        return f"{m.group(1)}: needs a list, not a mapping; write {m.group(1).split('=')[0]}=[…]"
    m = re.match(r"Could not override '([^']+)'\. No match in the defaults list", text)
    if m and (CONF / m.group(1)).is_dir():
        given = _given(args, m.group(1), None)
        return (f"{given}: {m.group(1)} is added, not chosen: write +{given.lstrip('~')} "
                f"(choices: {', '.join(_options(m.group(1)))})")
    m = re.match(r"Could not override '([^']+)'", text)
    if m and "/" in m.group(1):
        return (f"{_given(args, m.group(1), None)}: no config group {m.group(1)}; the groups "
                f"are {', '.join(_groups())}")
    if m and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return _unknown_key(m.group(1), _given(args, m.group(1), None), cause)
    m = re.match(r"Ambiguous value for argument '([^']+)'", text)
    if m:
        key, _, value = m.group(1).partition("=")
        sweep = (f"{m.group(1)}: a comma list sweeps, which needs -m "
                 f"(python -m runner -m {m.group(1)})")
        if key.lstrip("+") in _groups():
            return sweep
        return f"{sweep}; for one list value write {key}=[{value}]"
    m = re.match(r"Sweep parameters '([^']+)' requires --multirun", text)
    if m:
        return f"{m.group(1)}: a sweep; run it with -m (python -m runner -m {m.group(1)})"
    m = re.match(r"Multiple values for (\S+)\. To override a value use 'override \S+: (\S+)'",
                 text)
    if m:
        return (f"+{m.group(1)}={m.group(2)}: {m.group(1)} is already chosen; write "
                f"{m.group(1)}={m.group(2)} (without +)")
    m = re.match(r"Could not append to config\. An item is already at '([^']+)'", text)
    if m:
        given = _given(args, m.group(1), None)
        return f"{given}: {m.group(1)} is already set; write {given.lstrip('+')} (without +)"
    m = re.match(r"Could not delete from config\. '([^']+)' does not exist", text)
    if m:
        return f"~{m.group(1)}: no such setting to delete"
    m = re.match(r"Could not delete from config\. The value of '([^']+)' is (.*) and not (.*)\.",
                 text)
    if m:
        return f"~{m.group(1)}={m.group(3)}: its value is {m.group(2)}"
    m = re.match(r"Override (\S+) looks like a config group override, but config group '([^']+)'",
                 text)
    if m:
        return f"{m.group(1)}: no config group {m.group(2)}; the groups are {', '.join(_groups())}"
    detail = f" ({_first_line(str(cause))})" if cause is not None else ""
    return _first_line(text) + detail


def _bad_value(override: str, cause) -> str:
    message = _first_line(str(cause))
    m = re.match(r"Invalid value '([^']*)', expected one of \[(.*)\]", message)
    if m:
        options = [o.strip() for o in m.group(2).split(",")]
        close = difflib.get_close_matches(m.group(1), options, n=1)
        if close:
            return (f"{override}: not a choice; did you mean {close[0]}? "
                    f"(choices: {', '.join(options)})")
        return f"{override}: not a choice; the choices are {', '.join(options)}"
    m = re.match(r"Value '([^']*)' of type '\w+' could not be converted to (\w+)", message)
    if m:
        kind = {"Integer": "a whole number", "Float": "a number"}.get(m.group(2), m.group(2))
        return f"{override}: '{m.group(1)}' is not {kind}; give {kind}"
    m = re.match(r"Value '([^']*)' is not a valid bool", message)
    if m:
        return f"{override}: '{m.group(1)}' is not true or false; give true or false"
    key, _, value = override.partition("=")
    if re.match(r"Invalid value assigned: \w+ is not a ListConfig, list or tuple", message):
        return f"{override}: needs a list; write {key}=[{value}]"
    if re.match(r"Cannot assign \w+ to Dict", message):
        return f"{override}: needs a mapping; write {key}={{name: value, …}}"
    if re.search(r"field '[^']+' is not Optional", message):
        return f"{override}: needs a value; drop it for the default or give one"
    return f"{override}: {message}"


def _unknown_key(key: str, given: str, cause) -> str:
    """A key the config does not have: a near miss, or the group option that has it."""
    parts = key.split(".")
    schema = getattr(cause, "object_type", None)
    fields = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(
        schema) else []
    group, leaf = (parts[0], parts[-1]) if len(parts) > 1 else (None, parts[0])
    prefix = ".".join(parts[:-1]) + "." if len(parts) > 1 else ""
    close = difflib.get_close_matches(leaf, fields, n=1)
    if close:
        return f"{given}: no such setting; did you mean {prefix}{close[0]}?"
    if group in _groups() and len(parts) == 2:
        # A setting of another choice of the group (activation.slope is leaky_relu's).
        keys = {o: _top_level_keys(CONF / group / f"{o}.yaml") for o in _options(group)}
        for name in [leaf, *difflib.get_close_matches(leaf, sorted(set().union(*keys.values())),
                                                     n=1)]:
            having = [o for o, k in keys.items() if name in k]
            if having:
                value = given.partition("=")[2]
                fix = f"{group}={having[0]} {prefix}{name}={value}"
                mean = "" if name == leaf else f"did you mean {prefix}{name}? "
                return (f"{given}: not a setting of the chosen {group}; {mean}"
                        f"{group}={' or '.join(having)} has it, e.g. {fix}")
    shown = ", ".join(prefix + f for f in fields)
    return f"{given}: no such setting" + (f"; the settings there are {shown}" if shown else "")


def _top_level_keys(path: Path) -> set[str]:
    return {m.group(1) for line in path.read_text().splitlines()
            if (m := re.match(r"(\w+)\s*:", line)) and m.group(1) != "defaults"}
