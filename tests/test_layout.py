"""The import graph: neuron/ is numpy and scipy math only, runner/ has no import cycle, and the
speed-ups are reached through their one seam."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(path: Path, package: str) -> list[str]:
    """Every module `path` imports (at the top or inside a function), absolute."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out += [f"{base}.{a.name}" for a in node.names] + [base]
    return out


def modules(folder: str) -> dict[str, Path]:
    root = ROOT / folder
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py")}


def graph(folder: str) -> dict[str, set[str]]:
    mods = modules(folder)
    edges = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges[name] = {m for m in imports(path, package) if m in mods and m != name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(edges[u]):
            if state.get(v) == "open":
                return stack[stack.index(v):] + [v]
            if v not in state and (cycle := visit(v)):
                return cycle
        stack.pop()
        state[u] = "done"
        return None

    for u in sorted(edges):
        if u not in state and (cycle := visit(u)):
            return cycle
    return None


def test_runner_has_no_import_cycle():
    assert find_cycle(graph("runner")) is None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted((ROOT / "neuron").glob("*.py")), ids=lambda p: p.name)
def test_neuron_is_numpy_and_scipy_math(path):
    allowed = {"numpy", "scipy", "math", "inspect", "dataclasses", "typing", "__future__",
               "neuron", "zlib", "functools"}
    if path.name == "compiled.py":  # the one compiled module: numba's kernels, numpy's tests
        # llvmlite: numba's own, for an intrinsic's IR types; operator: the vector type's
        # arithmetic overloads
        allowed |= {"numba", "llvmlite", "operator"}
    for name in imports(path, "neuron"):
        assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_speedups_are_reached_through_their_seam():
    # Outside runner/speedups, only the package itself is imported: its factory picks the
    # publisher, and the plain path never needs it.
    for name, path in modules("runner").items():
        if name.startswith("runner.speedups"):
            continue
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for imported in imports(path, package):
            assert not imported.startswith("runner.speedups."), f"{name} imports {imported}"


def test_nothing_reaches_into_another_modules_private_names():
    mods = modules("runner") | modules("neuron")
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in mods:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{name} imports {private} from {node.module}"


def _branches_on(path: Path, attrs: set[str]) -> list[int]:
    """Lines of `path` whose if/else tests read one of `attrs` (x.hidden, x.is_network)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.If, ast.IfExp, ast.While)):
            if any(isinstance(n, ast.Attribute) and n.attr in attrs
                   for n in ast.walk(node.test)):
                lines.append(node.lineno)
    return lines


# Issue 19: the single neuron is the network without hidden layers, so almost nothing asks
# which one it is. What still does, and why: the plan (the model's names and params, the
# network-only checks), evaluate (a network's per-seed dead units, stuck and diverged: the
# single neuron's runs keep the metrics they always had), the luck report (its network
# summary) and the plots (a network's decision regions where a neuron has its weight plane).
MODEL_SHAPE_BRANCHES = {"runner.plan", "runner.evaluate", "runner.report.luck",
                        "runner.report.plots"}


def test_few_places_ask_whether_the_model_is_a_network():
    found = {name for name, path in modules("runner").items()
             if _branches_on(path, {"hidden", "is_network"})}
    assert found <= MODEL_SHAPE_BRANCHES, sorted(found - MODEL_SHAPE_BRANCHES)


def test_the_branch_finder_sees_a_branch(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f(plan):\n    x = 1\n    if plan.is_network:\n        x = 2\n"
                   "    return [x] if plan.hidden else []\n")
    assert _branches_on(src, {"hidden", "is_network"}) == [3, 5]


def test_neuron_has_one_model_and_one_trainer():
    defined = {}
    for name, path in modules("neuron").items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name in (
                    "train", "forward", "loss", "grad"):
                defined.setdefault(node.name, []).append(name)
    assert defined == {k: ["neuron.network"] for k in ("train", "forward", "loss", "grad")}


def reached(edges: dict[str, set[str]], start: str) -> set[str]:
    """Every module of `edges` that importing `start` imports, at any depth."""
    seen, todo = set(), [start]
    while todo:
        for v in edges[todo.pop()] - seen:
            seen.add(v)
            todo.append(v)
    return seen


def test_reached_follows_imports_at_any_depth():
    assert reached({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"b", "c"}


def test_plan_imports_nothing_from_tracking():
    # A plan is checked values; the tracking URI it checks is text (runner.uri). Importing
    # runner.tracking from it was the one arrow from the config side back up to MLflow's.
    mods = modules("runner")
    tracking = [(name, m) for name in reached(graph("runner"), "runner.plan") | {"runner.plan"}
                for m in imports(mods[name], name.rsplit(".", 1)[0])
                if m.startswith("runner.tracking")]
    assert tracking == []


def test_store_concerns_live_in_separate_modules():
    # Pure URI text; checks that touch a store but never create it; the set-up that creates
    # it and installs the process-wide SQLite listener, and never checks it.
    assert not (ROOT / "runner/tracking/store.py").exists()
    top = {name.split(".")[0] for name in imports(ROOT / "runner/uri.py", "runner")}
    assert top <= {"__future__", "os", "re", "pathlib", "urllib"}, top
    checks = imports(ROOT / "runner/tracking/checks.py", "runner.tracking")
    setup = imports(ROOT / "runner/tracking/setup.py", "runner.tracking")
    assert [m for m in checks if m.startswith(("mlflow", "fcntl", "runner.tracking"))] == []
    assert [m for m in setup if m.startswith("runner.tracking")] == []
    listeners = [name for name, path in modules("runner/tracking").items()
                 if "event.listen(" in path.read_text()]
    assert listeners == ["runner.tracking.setup"]
