"""The overrides checked before Hydra composes.

Each is parsed with Hydra's public override parser (hydra.core.override_parser), its key looked
up in the schemas (runner.config) and in the choices of conf/, and its value tried in the type
of its field with OmegaConf's own nodes, which is what composition would do. A refusal is
worded here from what is known of the key and its field, never from Hydra's text, so a Hydra
release that rewords a message changes nothing the user reads.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import importlib.util
import typing
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override, ValueType
from hydra.errors import OverrideParseException
from omegaconf import BooleanNode, EnumNode, FloatNode, IntegerNode, OmegaConf
from omegaconf.errors import ValidationError

from runner import limits
from runner.config import SCHEMAS, Config, check_overrides, override_key
from runner.errors import UserError

CONF = Path(__file__).resolve().parents[2] / "conf"

# Launcher presets and the pip package that provides each (README: "Outgrow one machine").
LAUNCHER_PACKAGES = {
    "joblib": "hydra-joblib-launcher", "joblib_small": "hydra-joblib-launcher",
    "submitit_local": "hydra-submitit-launcher", "submitit_slurm": "hydra-submitit-launcher",
    "ray": "hydra-ray-launcher", "ray_attach": "hydra-ray-launcher",
    "ray_aws": "hydra-ray-launcher",
}
ENGINES_EXTRA = "pip install -e '.[engines]'"


@functools.cache
def groups() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra"))


@functools.cache
def options(group: str) -> tuple[str, ...]:
    folder = CONF / group
    return tuple(sorted(p.stem for p in folder.glob("*.yaml"))) if folder.is_dir() else ()


@functools.cache
def _defaults(path: Path) -> tuple:
    return tuple(OmegaConf.to_container(OmegaConf.load(path)).get("defaults", []))


def _chosen_by_config() -> dict[str, list[str]]:
    """conf/config.yaml's defaults: group → [option]."""
    return {k: [v] for entry in _defaults(CONF / "config.yaml") if isinstance(entry, dict)
            for k, v in entry.items() if k in groups()}


@functools.cache
def schema_of(group: str, option: str) -> type | None:
    """The schema an option's file extends (`- /base_x@_here_`)."""
    path = CONF / group / f"{option}.yaml"
    if not path.is_file():
        return None
    for entry in _defaults(path):
        if isinstance(entry, str) and entry.startswith("/base_"):
            return SCHEMAS.get(entry[1:].split("@")[0])
    return None


def launcher_missing(choice: str, installed=None) -> str | None:
    """The pip package a launcher choice needs and `installed` (a module name → bool) lacks."""
    installed = installed or (lambda m: importlib.util.find_spec(m) is not None)
    names = [choice]
    preset = CONF / "hydra" / "launcher" / f"{choice}.yaml"
    if preset.is_file():  # our presets extend the plugin's: joblib_small is joblib's
        names += [e for e in _defaults(preset) if isinstance(e, str) and e != "_self_"]
    for name in names:
        package = LAUNCHER_PACKAGES.get(name)
        if package and not installed("hydra_plugins." + package.replace("-", "_")):
            return package
    return None


def unknown_choice(given: str, group: str, option: str, choices) -> str:
    close = difflib.get_close_matches(str(option), list(choices), n=1)
    if close:
        return (f"{given}: no such choice; did you mean {group}={close[0]}? "
                f"(choices: {', '.join(choices)})")
    return f"{given}: no such choice; the choices are {', '.join(choices)}"


def check(overrides: list[str], multirun: bool) -> str | None:
    """The first override Hydra would refuse, take without a word, or compose into what a
    job cannot mean, as one line; None if there is none."""
    seen: dict[str, str] = {}
    for i, a in enumerate(overrides):
        if "=" not in a and not a.startswith("~"):
            nxt = overrides[i + 1] if i + 1 < len(overrides) else None
            example = f"{a}={nxt}" if nxt is not None and "=" not in nxt else f"{a}=…"
            return f"{a}: a setting is key=value; write {example} (python -m runner --help)"
        key = override_key(a)
        if key in seen:
            several = "several seeds in one job: seed=1..50 or seed=[1,5,9]; " if key == "seed" \
                else ""
            return (f"{seen[key]} {a}: {key} is given twice, and only the last would count; "
                    f"keep one ({several}to compare values, sweep: -m {key}=a,b)")
        seen[key] = a
        if a.count(",") >= limits.MAX_LISTED_VALUES:  # before Hydra's parser: quadratic
            from runner.data import check_list_override

            try:
                check_list_override(a)
            except UserError as e:
                return str(e)
    parser = OverridesParser.create()
    parsed = []
    for a in overrides:
        try:
            parsed.append(parser.parse_overrides([a])[0])
        except OverrideParseException as e:
            return (f"{a}: not an override Hydra can read ({_first_line(str(e.message))}); "
                    "quote values with spaces or brackets, e.g. 'dataset.path=\"my file.csv\"'")
    if not multirun:
        for o in parsed:
            if o.is_sweep_override():
                return _needs_multirun(o)
    chosen = _chosen(parsed)
    for o in parsed:
        message = _check_one(o, chosen)
        if message is not None:
            return message
    return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "bad input"


def _needs_multirun(o: Override) -> str:
    a = o.input_line
    if o.value_type != ValueType.SIMPLE_CHOICE_SWEEP:
        return f"{a}: a sweep; run it with -m (python -m runner -m {a})"
    key, _, value = a.partition("=")
    sweep = f"{a}: a comma list sweeps, which needs -m (python -m runner -m {a})"
    if key.lstrip("+") in groups():
        return sweep
    return f"{sweep}; for one list value write {key}=[{value}]"


def _values(o: Override) -> list | None:
    """The value of an override, or each value of a list sweep; None for a range or interval."""
    if not o.is_sweep_override():
        return [o.value()]
    value = o.value()
    return list(value.list) if isinstance(value, ChoiceSweep) else None


def _chosen(parsed: list[Override]) -> dict[str, list[str]]:
    """Each group's choice (several in a sweep), after the command line's and an experiment's."""
    chosen = _chosen_by_config()
    for o in parsed:
        group = o.key_or_group
        if group not in groups() or o.package is not None or o.is_delete():
            continue
        names = [v for v in _values(o) or [] if isinstance(v, str) and v in options(group)]
        if group == "experiment":
            chosen["experiment"] = names
            for name in names:
                for entry in _defaults(CONF / "experiment" / f"{name}.yaml"):
                    for k, v in (entry.items() if isinstance(entry, dict) else ()):
                        if k.startswith("override /"):
                            chosen[k.removeprefix("override /")] = [v]
        elif names:
            chosen[group] = names
    return chosen


def _check_one(o: Override, chosen: dict[str, list[str]]) -> str | None:
    a, key = o.input_line, o.key_or_group
    if key == "hydra" or key.startswith("hydra/"):
        # Hydra's own groups: their choices come from plugins too; a launcher needs its own.
        if key == "hydra/launcher" and not o.is_delete():
            for v in _values(o) or []:
                package = launcher_missing(str(v))
                if package:
                    return (f"{a.partition('=')[0]}={v}: needs {package}; install it "
                            f"({ENGINES_EXTRA})")
        return None
    if "/" in key:
        if (CONF / key).is_dir():
            return None
        return f"{a}: no config group {key}; the groups are {', '.join(groups())}"
    if key in groups():
        return _check_group(o, chosen)
    return _check_setting(o, chosen)


def _check_group(o: Override, chosen) -> str | None:
    a, group = o.input_line, o.key_or_group
    if o.is_delete():
        return None
    try:
        check_overrides([a])  # several choices at once
    except UserError as e:
        return str(e)
    values = _values(o) or []
    typed = a.partition("=")[0]
    for v in values:
        if not isinstance(v, str) or v not in options(group):  # null too: Hydra raises
            given = a if len(values) == 1 else f"{typed}={v}"
            return unknown_choice(given, group, a.partition("=")[2] if len(values) == 1 else v,
                                  options(group))
    if o.package is not None:
        return None
    in_defaults = group in _chosen_by_config()
    if in_defaults and o.is_add():
        return f"{a}: {group} is already chosen; write {a[1:]} (without +)"
    if not in_defaults and not (o.is_add() or o.is_force_add()):
        return (f"{a}: {group} is added, not chosen: write +{a} "
                f"(choices: {', '.join(options(group))})")
    return None


@dataclasses.dataclass(frozen=True)
class _Found:
    type: Any  # the field's type; Any below a mapping
    declared: bool  # a field of a schema, not a key under a mapping


@dataclasses.dataclass(frozen=True)
class _Unknown:
    schema: type  # where the key was looked for
    depth: int  # the index of the unknown part of the key


def _unwrap(t):
    """Optional[X] → X."""
    if typing.get_origin(t) is typing.Union:
        rest = [x for x in typing.get_args(t) if x is not type(None)]
        return rest[0] if len(rest) == 1 else Any
    return t


def _optional(t) -> bool:
    return t is Any or (typing.get_origin(t) is typing.Union and type(None) in typing.get_args(t))


def _lookup(path: list[str], chosen) -> _Found | _Unknown:
    node: Any = Config
    t: Any = Config
    start = 0
    if path[0] == "hydra":  # Hydra's own settings, in Hydra's public schema
        from hydra.conf import HydraConf

        node, start = HydraConf, 1
    for i, part in enumerate(path[start:], start):
        if typing.get_origin(node) is dict or node is Any or not dataclasses.is_dataclass(node):
            return _Found(Any, False)  # printed.x: a mapping of anything (Hydra checks the rest)
        candidates = [node]
        if i == 1 and path[0] in groups():
            candidates = [s for c in chosen.get(path[0], []) if (s := schema_of(path[0], c))]
            candidates = [s for s in candidates if part in typing.get_type_hints(s)] or \
                candidates[:1] or [node]
        hints = typing.get_type_hints(candidates[0])
        if part not in hints:
            return _Unknown(candidates[0], i)
        t = hints[part]
        node = _unwrap(t)
    return _Found(t, True)


def _check_setting(o: Override, chosen) -> str | None:
    a, key = o.input_line, o.key_or_group
    path = key.split(".")
    found = _lookup(path, chosen)
    if isinstance(found, _Unknown):
        if o.is_delete():
            return f"~{key}: no such setting to delete"
        return _unknown_key(a, path, found, chosen, added=o.is_add() or o.is_force_add())
    if o.is_delete():
        return None
    lacking = _lacking_in_sweep(path, chosen)
    if lacking is not None:
        return f"{a}: {lacking}"
    empty = _null_unless_chosen(path, chosen)
    if empty is not None:
        return f"{a}: {empty}"
    if o.is_add() and found.declared:
        return f"{a}: {key} is already set; write {a[1:]} (without +)"
    typed, _, raw = a.partition("=")
    values = _values(o)
    for v in values or []:
        given = a if not o.is_sweep_override() else f"{typed}={v}"
        message = _bad_value(given, typed.lstrip("+"), raw, found.type, v)
        if message is not None:
            return message
    return None


def _lacking_in_sweep(path: list[str], chosen) -> str | None:
    """A key of some of the choices a sweep makes of its group, not of the others (each job
    of those would fail to compose, after the others ran)."""
    group = path[0]
    if len(path) < 2 or group not in groups() or len(chosen.get(group, [])) < 2:
        return None
    has = {c: path[1] in typing.get_type_hints(s) for c in chosen[group]
           if (s := schema_of(group, c))}
    lack = [c for c, h in has.items() if not h]
    if not lack:
        return None
    having = [c for c, h in has.items() if h]
    return (f"{group}={lack[0]} has no {path[1]} (of this sweep's choices, only "
            f"{', '.join(having)} has it); sweep them apart, e.g. python -m runner -m "
            f"{group}={','.join(having)} {'.'.join(path)}=…")


def _null_unless_chosen(path: list[str], chosen) -> str | None:
    """A key under a section that is null unless a choice fills it (lesson_train and printed,
    which +experiment=lesson fills): OmegaConf cannot set a key under null."""
    top = {f.name: f for f in dataclasses.fields(Config)}.get(path[0])
    if len(path) < 2 or top is None or top.default is not None:
        return None
    kind = _unwrap(typing.get_type_hints(Config)[path[0]])
    if not (dataclasses.is_dataclass(kind) or typing.get_origin(kind) is dict):
        return None
    fillers = [name for name in options("experiment") if path[0] in _fills(name)]
    if set(fillers) & set(chosen.get("experiment", [])):
        return None
    fix = " or ".join(f"+experiment={e}" for e in fillers)
    return (f"{path[0]} is null unless {fix} sets it; add {fix}" if fillers else
            f"{path[0]} is null; set it whole, e.g. {path[0]}={{…}}")


@functools.cache
def _fills(experiment: str) -> frozenset[str]:
    """The top-level keys an experiment sets (it is `# @package _global_`)."""
    path = CONF / "experiment" / f"{experiment}.yaml"
    keys = set(OmegaConf.load(path).keys()) - {"defaults"}
    keys |= {k.rpartition("@")[2] for e in _defaults(path) if isinstance(e, dict)
             for k in e if "@" in k}
    return frozenset(keys)


def _unknown_key(a: str, path: list[str], found: _Unknown, chosen, added: bool) -> str:
    """A key no schema has: a near miss, or the choice of a group that has it."""
    fields = [f.name for f in dataclasses.fields(found.schema)]
    prefix = "".join(p + "." for p in path[:found.depth])
    leaf = path[found.depth]
    close = difflib.get_close_matches(leaf, fields, n=1)
    if added:  # worded as runner.config.to_config words a key added with +
        fix = f"did you mean {prefix}{close[0]}?" if close else (
            f"the keys there are {', '.join(fields)}")
        return f"{prefix}{leaf}: no such setting; {fix}"
    if close:
        return f"{a}: no such setting; did you mean {prefix}{close[0]}?"
    group = path[0]
    if found.depth == 1 and len(path) == 2 and group in groups():
        # A setting of another choice of the group (activation.slope is leaky_relu's).
        keys = {c: {f.name for f in dataclasses.fields(s)} for c in options(group)
                if (s := schema_of(group, c))}
        near = difflib.get_close_matches(leaf, sorted(set().union(*keys.values())), n=1)
        for name in [leaf, *near]:
            having = [c for c, k in keys.items() if name in k]
            if having:
                value = a.partition("=")[2]
                fix = f"{group}={having[0]} {prefix}{name}={value}"
                mean = "" if name == leaf else f"did you mean {prefix}{name}? "
                return (f"{a}: not a setting of the chosen {group}; {mean}"
                        f"{group}={' or '.join(having)} has it, e.g. {fix}")
    shown = ", ".join(prefix + f for f in fields)
    return f"{a}: no such setting" + (f"; the settings there are {shown}" if shown else "")


def _is_interpolation(value) -> bool:
    return isinstance(value, str) and "${" in value


def _bad_value(given: str, key: str, raw: str, t, value) -> str | None:
    """What is wrong with `value` for a field of type `t`, or None (OmegaConf's nodes decide
    what converts, as they do when Hydra merges the override)."""
    if value is None:
        if _optional(t):
            return None
        return f"{given}: needs a value; drop it for the default or give one"
    t = _unwrap(t)
    if t is Any or _is_interpolation(value):
        return None
    origin = typing.get_origin(t)
    if origin is list:
        if isinstance(value, dict):
            return f"{given}: needs a list, not a mapping; write {key}=[…]"
        if not isinstance(value, list):
            return f"{given}: needs a list; write {key}=[{raw}]"
        (item,) = typing.get_args(t) or (Any,)
        for v in value:
            message = _bad_scalar(given, item, v)
            if message is not None:
                return message
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return f"{given}: needs a mapping; write {key}={{name: value, …}}"
        return None
    return _bad_scalar(given, t, value)


def _bad_scalar(given: str, t, value) -> str | None:
    if value is None or _is_interpolation(value):
        return None
    try:
        if isinstance(t, type) and issubclass(t, enum.Enum):
            EnumNode(t, value)
        elif t is bool:
            BooleanNode(value)
        elif t is int:
            IntegerNode(value)
        elif t is float:
            FloatNode(value)
        return None
    except ValidationError:
        pass
    if isinstance(t, type) and issubclass(t, enum.Enum):
        choices = [m.name for m in t]
        close = difflib.get_close_matches(str(value), choices, n=1)
        if close:
            return (f"{given}: not a choice; did you mean {close[0]}? "
                    f"(choices: {', '.join(choices)})")
        return f"{given}: not a choice; the choices are {', '.join(choices)}"
    if t is bool:
        return f"{given}: '{value}' is not true or false; give true or false"
    kind = "a whole number" if t is int else "a number"
    return f"{given}: '{value}' is not {kind}; give {kind}"
