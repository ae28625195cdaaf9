"""What a person reads at the end of a run: the summary and the lesson's table."""

from __future__ import annotations

import math

import numpy as np


def summary(result, where: str | None, run_dir, ui_command: str | None) -> str:
    acc = result.metrics["accuracy"]
    ds = result.dataset
    lines = [
        f"neuron-luck · {result.activation.name} · {ds.name} ({len(ds.y)} row"
        f"{'' if len(ds.y) == 1 else 's'}, "
        f"{', '.join(ds.features)})",
        f"  seeds evaluated  {result.n_seeds:,} ({result.seed_spec})" + (
            f" in {result.seconds:.2f} s, {result.n_seeds / result.seconds:,.0f} seeds/s"
            if result.seconds else ""),
    ]
    if result.n_seeds == 1:
        lines.append(f"  accuracy         {acc[0]:.4f}")
    else:
        lines.append(
            f"  accuracy         mean {acc.mean():.4f}  min {acc.min():.4f}  max {acc.max():.4f}"
        )
    for note in result.notes:
        lines.append(f"  note             {note}")
    lines.append(f"  run folder       {run_dir}")
    if where:
        lines.append(f"  MLflow           {where}")
    if ui_command:
        lines.append(f"  open the UI      {ui_command}")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _decimals(printed) -> int:
    text = repr(float(printed))
    if "e" in text:
        return 12
    return len(text.split(".")[1]) if "." in text else 0


def _agrees(computed, printed) -> bool:
    """Whether `printed` is `computed` rounded to the digits the printed value shows."""
    if isinstance(printed, (list, tuple)):
        return len(printed) == len(computed) and all(
            _agrees(c, p) for c, p in zip(computed, printed, strict=True)
        )
    if isinstance(printed, str):
        return str(computed) == printed
    d = _decimals(printed)
    return math.isclose(round(float(computed), d), float(printed), abs_tol=10 ** -(d + 3))


def lesson_table(result, printed: dict) -> str:
    """The worked example: each quantity computed, beside what the source printed."""
    ds, act = result.dataset, result.activation
    x = ds.frame[ds.features].to_numpy(float)[0]
    w, b = result.W[0], float(result.b[0])
    wx = float(w @ x)
    z = float(result.z[0, 0])
    y_hat = float(result.y_hat[0, 0])
    cls = ds.positive if bool(result.pred[0, 0]) else ds.negative
    rule = f"ŷ {'≥' if cls == ds.positive else '<'} {act.threshold:g}"
    rows = [
        ("x", list(x), "x"),
        ("w", list(w), "w"),
        ("b", b, "b"),
        ("wᵀx", wx, "wx"),
        ("z = wᵀx + b", z, "z"),
        (f"ŷ = {act.name}(z)", y_hat, "y_hat"),
        ("class", cls, "class"),
    ]
    out = [
        f"The worked example: one {act.name} neuron, row 0 of {ds.name}",
        f"  {'quantity':<16}{'computed':<22}{'printed':<16}",
    ]
    for name, value, key in rows:
        shown = f"{cls} ({rule})" if key == "class" else _fmt(
            tuple(value) if isinstance(value, list) else value
        )
        if key not in printed or printed[key] is None:
            out.append(f"  {name:<16}{shown:<22}")
            continue
        p = printed[key]
        p_list = list(p) if not isinstance(p, (str, int, float)) else p
        ok = _agrees(value, p_list)
        mark = "✓" if ok else "✗ misprint"
        if not ok and key == "z" and "wx" in printed and _agrees(printed["wx"] + b, p_list):
            mark += " (follows from the printed wᵀx)"
        if not ok and key == "y_hat" and "z" in printed:
            mark += f" ({act.name}({_fmt(float(printed['z']))}) would be "
            mark += f"{float(act(np.asarray(float(printed['z'])))):.6f})"
        p_shown = _fmt(tuple(p_list) if isinstance(p_list, list) else p_list)
        out.append(f"  {name:<16}{shown:<22}{p_shown:<16}{mark}")
    return "\n".join(out)


def _prob(p: float) -> str:
    # Near 1, six decimals would print 1.000000 and hide how sure the neuron is.
    return f"1 − {1 - p:.1e}" if 0.999999 < p < 1 else f"{p:.6f}"


def lesson_training(t: dict, cfg, result) -> str:
    """The line the lesson's later chapters promise: what training makes of its weights."""
    ds = result.dataset
    tr = cfg.trainer
    verdict = ds.positive if t["positive"] else ds.negative
    return (
        f"\nTrained from the lesson's start on {t['dataset']} ({t['n_rows']} rows; "
        f"{tr.epochs} epochs of gradient descent, lr {tr.lr:g}, l2 {tr.l2:g}):\n"
        f"  w = {_fmt(tuple(t['w0']))}, b = {_fmt(t['b0'])}  →  "
        f"w = {_fmt(tuple(t['w']))}, b = {_fmt(t['b'])}  (accuracy {t['accuracy']:.4f}, "
        f"log-loss {t['loss']:.4f})\n"
        f"  under them the lesson's person gets ŷ = {_prob(t['y_hat'])}: {verdict}"
    )
