"""The argument parser of the small commands (`python -m runner.ui`, `python -m runner.split`):
argparse's, but a mistake is one line `Error: <what>: <problem>; <fix> (<prog> --help)` and
exit code 2, as for a bad config value, instead of a usage block."""

from __future__ import annotations

import argparse
import re

from runner.errors import UserError


class Parser(argparse.ArgumentParser):
    """`examples` maps an argument (its flag, or a positional's name) to how it is written,
    e.g. {"--jobs": "--jobs 4"}: the fix a message gives."""

    def __init__(self, *args, examples: dict[str, str] | None = None, **kw):
        super().__init__(*args, **kw)
        self.examples = dict(examples or {})

    def error(self, message: str):  # argparse's hook: it must not return
        raise UserError(f"{self.reword(message)} ({self.prog} --help)")

    def _example(self, name: str) -> str:
        return self.examples.get(name, name)

    def reword(self, message: str) -> str:
        """argparse's message as `<what>: <problem>; <fix>`."""
        m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: invalid (\w+) value: '(.*)'", message)
        if m:
            flag, kind, value = m.groups()
            what = "a whole number" if kind == "int" else f"a valid {kind}"
            return f"{flag} {value}: not {what}; give one, e.g. {self._example(flag)}"
        m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        if m:
            flag = m[1]
            return f"{flag}: no value; give one, e.g. {self._example(flag)}"
        m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: not allowed with argument (\S+)", message)
        if m:
            return (f"{m[1]}: not allowed with {m[2]}; give one of them, "
                    f"{self._example(m[2])} or {self._example(m[1])}")
        m = re.fullmatch(r"one of the arguments (.+) is required", message)
        if m:
            flags = m[1].split()
            return (f"{' or '.join(flags)}: missing; give one, "
                    + " or ".join(self._example(f) for f in flags))
        m = re.fullmatch(r"the following arguments are required: (.+)", message)
        if m:
            names = m[1].split(", ")
            return (f"{', '.join(names)}: missing; give "
                    + ", ".join(self._example(n) for n in names))
        m = re.fullmatch(r"unrecognized arguments: (.+)", message)
        if m:
            return f"{m[1]}: not an argument of {self.prog}; leave it out"
        return f"{message}; fix the arguments"
